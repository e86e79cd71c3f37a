"builtin.module"() ({
  "func.func"() <{function_type = (!torch.vtensor<[1,1],si64>, !torch.vtensor<[1,1],si64>) -> !torch.vtensor<[1,1],si64>, sym_name = "main"}> ({
  ^bb0(%arg0: !torch.vtensor<[1,1],si64>, %arg1: !torch.vtensor<[1,1],si64>):
    %0 = "torch.constant.int"() <{value = 1 : i64}> : () -> !torch.int
    %1 = "torch.constant.int"() <{value = -1 : i64}> : () -> !torch.int
    %2 = "torch.constant.none"() : () -> !torch.none
    %3 = "torch.operator"(%arg0, %0, %1, %arg1, %2) <{name = "torch.aten.diff"}> : (!torch.vtensor<[1,1],si64>, !torch.int, !torch.int, !torch.vtensor<[1,1],si64>, !torch.none) -> !torch.vtensor<[1,1],si64>
    "func.return"(%3) : (!torch.vtensor<[1,1],si64>) -> ()
  }) : () -> ()
}) : () -> ()
