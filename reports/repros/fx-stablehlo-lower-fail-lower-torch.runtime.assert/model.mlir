"builtin.module"() ({
  "func.func"() <{function_type = (!torch.vtensor<[],si64>) -> (), sym_name = "main"}> ({
  ^bb0(%arg0: !torch.vtensor<[],si64>):
    %0 = "torch.constant.int"() <{value = 0 : i64}> : () -> !torch.int
    %1 = "torch.aten.Int.Tensor"(%arg0) : (!torch.vtensor<[],si64>) -> !torch.int
    %2 = "torch.aten.ge.int"(%1, %0) : (!torch.int, !torch.int) -> !torch.bool
    %3 = "torch.aten.Int.bool"(%2) : (!torch.bool) -> !torch.int
    %4 = "torch.aten.Bool.int"(%3) : (!torch.int) -> !torch.bool
    "torch.runtime.assert"(%4) <{message = "Runtime assertion failed for expression u0 >= 0 on node 'ge_4'"}> : (!torch.bool) -> ()
    "func.return"() : () -> ()
  }) : () -> ()
}) : () -> ()
