"builtin.module"() ({
  "func.func"() <{function_type = (!torch.vtensor<[1,1,1,1],si64>, !torch.vtensor<[2,1,1],si64>, !torch.vtensor<[8,1],si64>, !torch.vtensor<[32],si64>, !torch.vtensor<[1,2,8,32],f32>) -> !torch.vtensor<[1,2,32,32],f32>, sym_name = "main"}> ({
  ^bb0(%arg0: !torch.vtensor<[1,1,1,1],si64>, %arg1: !torch.vtensor<[2,1,1],si64>, %arg2: !torch.vtensor<[8,1],si64>, %arg3: !torch.vtensor<[32],si64>, %arg4: !torch.vtensor<[1,2,8,32],f32>):
    %0 = "torch.vtensor.literal"() <{value = dense<0.000000e+00> : tensor<1x2x32x32xf32>}> : () -> !torch.vtensor<[1,2,32,32],f32>
    %1 = "torch.constant.bool"() <{value = false}> : () -> !torch.bool
    %2 = "torch.prim.ListConstruct"(%arg0, %arg1, %arg2, %arg3) : (!torch.vtensor<[1,1,1,1],si64>, !torch.vtensor<[2,1,1],si64>, !torch.vtensor<[8,1],si64>, !torch.vtensor<[32],si64>) -> !torch.list<vtensor>
    %3 = "torch.aten.index_put.hacked_twin"(%0, %2, %arg4, %1) : (!torch.vtensor<[1,2,32,32],f32>, !torch.list<vtensor>, !torch.vtensor<[1,2,8,32],f32>, !torch.bool) -> !torch.vtensor<[1,2,32,32],f32>
    "func.return"(%3) : (!torch.vtensor<[1,2,32,32],f32>) -> ()
  }) : () -> ()
}) : () -> ()
