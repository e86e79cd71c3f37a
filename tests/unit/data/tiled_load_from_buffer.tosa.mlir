"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x32x8xf32>, tensor<1x8x32xf32>, tensor<1x1x32x1xi1>, tensor<1x1x32x32xf32>, tensor<1x2x8x32xf32>, tensor<2x8x32xf32>, tensor<1x2x8x32xi1>, tensor<1x1x2x32x32xf32>, tensor<2x8x32xf32>, tensor<1x8x2x32xf32>, tensor<1x8x64xf32>) -> (tensor<1x2x8x32xf32>, tensor<1xi8>, tensor<1x1x1xf32>, tensor<1x1x1xf32>, tensor<1x1x1xf32>, tensor<1x1x1x1xf32>, tensor<1x1x1x1xf32>, tensor<1x1x1x1xi32>, tensor<1x64x64xf32>, tensor<1x1x64xf32>, tensor<1x64x128xf32>, tensor<1x64x128xf32>, tensor<1x1x32x32xf32>, tensor<1x2x32x32xf32>, tensor<2x8x32xf32>, tensor<1x2x8x32xf32>, tensor<1x2x8x1xi32>, tensor<2x8x32xf32>, tensor<1x8x64xf32>, tensor<1x8x128xf32>), sym_name = "main"}> ({
  ^bb0(%arg0: tensor<1x32x8xf32>, %arg1: tensor<1x8x32xf32>, %arg2: tensor<1x1x32x1xi1>, %arg3: tensor<1x1x32x32xf32>, %arg4: tensor<1x2x8x32xf32>, %arg5: tensor<2x8x32xf32>, %arg6: tensor<1x2x8x32xi1>, %arg7: tensor<1x1x2x32x32xf32>, %arg8: tensor<2x8x32xf32>, %arg9: tensor<1x8x2x32xf32>, %arg10: tensor<1x8x64xf32>):
    %0 = "tosa.const"() <{values = dense<0.000000e+00> : tensor<1x2x8x32xf32>}> : () -> tensor<1x2x8x32xf32>
    %1 = "tosa.const"() <{values = dense<0.000000e+00> : tensor<1x1x32x32xf32>}> : () -> tensor<1x1x32x32xf32>
    %2 = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
    %3 = "tosa.const_shape"() <{values = dense<[1, 8, 64]> : tensor<3xindex>}> : () -> !tosa.shape<3>
    %4 = "tosa.const"() <{values = dense<0.000000e+00> : tensor<1xf32>}> : () -> tensor<1xf32>
    %5 = "tosa.const_shape"() <{values = dense<[1, 1, 32, 32]> : tensor<4xindex>}> : () -> !tosa.shape<4>
    %6 = "tosa.const_shape"() <{values = dense<[1, 1, 1, 32, 32]> : tensor<5xindex>}> : () -> !tosa.shape<5>
    %7 = "tosa.const_shape"() <{values = dense<[1, 1, 2, 1, 1]> : tensor<5xindex>}> : () -> !tosa.shape<5>
    %8 = "tosa.const_shape"() <{values = dense<[1, 2, 32, 32]> : tensor<4xindex>}> : () -> !tosa.shape<4>
    %9 = "tosa.const_shape"() <{values = dense<[2, 8, 32]> : tensor<3xindex>}> : () -> !tosa.shape<3>
    %10 = "tosa.const_shape"() <{values = dense<[2, 32, 32]> : tensor<3xindex>}> : () -> !tosa.shape<3>
    %11 = "tosa.const_shape"() <{values = dense<[1, 2, 8, 32]> : tensor<4xindex>}> : () -> !tosa.shape<4>
    %12 = "tosa.const"() <{values = dense<2.000000e+00> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
    %13 = "tosa.const"() <{values = dense<1.562500e-02> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
    %14 = "tosa.const"() <{values = dense<9.99999997E-7> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
    %15 = "tosa.const"() <{values = dense<0.420448214> : tensor<1x1x1x1xf32>}> : () -> tensor<1x1x1x1xf32>
    %16 = "tosa.const"() <{values = dense<0xFF800000> : tensor<1x1x1x1xf32>}> : () -> tensor<1x1x1x1xf32>
    %17 = "tosa.const"() <{values = dense<0> : tensor<1x1x1x1xi32>}> : () -> tensor<1x1x1x1xi32>
    %18 = "tosa.const"() <{values = dense<1.000000e+00> : tensor<1x64x64xf32>}> : () -> tensor<1x64x64xf32>
    %19 = "tosa.const"() <{values = dense<1.000000e+00> : tensor<1x1x64xf32>}> : () -> tensor<1x1x64xf32>
    %20 = "tosa.const"() <{values = dense<1.000000e+00> : tensor<1x64x128xf32>}> : () -> tensor<1x64x128xf32>
    %21 = "tosa.const"() <{values = dense<1.000000e+00> : tensor<1x64x128xf32>}> : () -> tensor<1x64x128xf32>
    %22 = "tosa.const"() <{values = dense<1.000000e+00> : tensor<1x64x128xf32>}> : () -> tensor<1x64x128xf32>
    %23 = "tosa.matmul"(%arg0, %arg1, %4, %4) : (tensor<1x32x8xf32>, tensor<1x8x32xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x32x32xf32>
    %24 = "tosa.reshape"(%23, %5) : (tensor<1x32x32xf32>, !tosa.shape<4>) -> tensor<1x1x32x32xf32>
    %25 = "tosa.transpose"(%24) <{perms = array<i32: 0, 1, 3, 2>}> : (tensor<1x1x32x32xf32>) -> tensor<1x1x32x32xf32>
    %26 = "tosa.select"(%arg2, %25, %1) : (tensor<1x1x32x1xi1>, tensor<1x1x32x32xf32>, tensor<1x1x32x32xf32>) -> tensor<1x1x32x32xf32>
    %27 = "tosa.reshape"(%arg3, %6) : (tensor<1x1x32x32xf32>, !tosa.shape<5>) -> tensor<1x1x1x32x32xf32>
    %28 = "tosa.tile"(%27, %7) : (tensor<1x1x1x32x32xf32>, !tosa.shape<5>) -> tensor<1x1x2x32x32xf32>
    %29 = "tosa.reshape"(%28, %8) : (tensor<1x1x2x32x32xf32>, !tosa.shape<4>) -> tensor<1x2x32x32xf32>
    %30 = "tosa.reshape"(%arg4, %9) : (tensor<1x2x8x32xf32>, !tosa.shape<3>) -> tensor<2x8x32xf32>
    %31 = "tosa.reshape"(%arg5, %11) : (tensor<2x8x32xf32>, !tosa.shape<4>) -> tensor<1x2x8x32xf32>
    %32 = "tosa.cast"(%arg6) : (tensor<1x2x8x32xi1>) -> tensor<1x2x8x32xi32>
    %33 = "tosa.reduce_min"(%32) <{axis = 3 : i32, nan_mode = #tosa.nan_mode<PROPAGATE>}> : (tensor<1x2x8x32xi32>) -> tensor<1x2x8x1xi32>
    %34 = "tosa.reshape"(%arg7, %10) : (tensor<1x1x2x32x32xf32>, !tosa.shape<3>) -> tensor<2x32x32xf32>
    %35 = "tosa.matmul"(%arg8, %34, %4, %4) : (tensor<2x8x32xf32>, tensor<2x32x32xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<2x8x32xf32>
    %36 = "tosa.reshape"(%arg9, %3) : (tensor<1x8x2x32xf32>, !tosa.shape<3>) -> tensor<1x8x64xf32>
    %37 = "tosa.matmul"(%arg10, %22, %4, %4) : (tensor<1x8x64xf32>, tensor<1x64x128xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x8x128xf32>
    "func.return"(%0, %2, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %26, %29, %30, %31, %33, %35, %36, %37) : (tensor<1x2x8x32xf32>, tensor<1xi8>, tensor<1x1x1xf32>, tensor<1x1x1xf32>, tensor<1x1x1xf32>, tensor<1x1x1x1xf32>, tensor<1x1x1x1xf32>, tensor<1x1x1x1xi32>, tensor<1x64x64xf32>, tensor<1x1x64xf32>, tensor<1x64x128xf32>, tensor<1x64x128xf32>, tensor<1x1x32x32xf32>, tensor<1x2x32x32xf32>, tensor<2x8x32xf32>, tensor<1x2x8x32xf32>, tensor<1x2x8x1xi32>, tensor<2x8x32xf32>, tensor<1x8x64xf32>, tensor<1x8x128xf32>) -> ()
  }) : () -> ()
}) : () -> ()
