"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x1x8xi64>) -> tensor<1x1x8xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<1x1x8xi64>):
    %0 = "tosa.cast"(%arg0) : (tensor<1x1x8xi64>) -> tensor<1x1x8xf32>
    "func.return"(%0) : (tensor<1x1x8xf32>) -> ()
  }) : () -> ()
}) : () -> ()
