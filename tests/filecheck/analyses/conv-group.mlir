// Two convolutions of different sizes share one loop structure: --group-by iterators puts them
// in one row (what one engine of an accelerator would run), and their MACs add up.
// conv 1: N1 F8 OH6 OW6 C3 KH3 KW3 = 7776 MACs; conv 2: 1*8*4*4*8*3*3 = 9216 MACs.
// RUN: frontend-mess analyze %s --group-by iterators | filecheck %s
// RUN: frontend-mess analyze %s --group-by body | filecheck %s --check-prefix=BODY

// CHECK: linalg.conv_2d_nchw_fchw {{ *}}2
// CHECK: total MACs:     16.992 K
// CHECK: grouped by iterators:
// CHECK: 2 {{ *}}16.992 K {{ *}}33.984 K {{ *}}conv_2d_nchw_fchw×2 {{ *}}parallel×4, reduction×3

// BODY: grouped by body:
// BODY: 2 {{ *}}16.992 K {{.*}}arith.addf×1, arith.mulf×1

func.func @main(%x: tensor<1x3x8x8xf32>, %w1: tensor<8x3x3x3xf32>, %w2: tensor<8x8x3x3xf32>) -> tensor<1x8x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<1x8x6x6xf32>
  %i1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
  %c1 = linalg.conv_2d_nchw_fchw ins(%x, %w1 : tensor<1x3x8x8xf32>, tensor<8x3x3x3xf32>) outs(%i1 : tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
  %e2 = tensor.empty() : tensor<1x8x4x4xf32>
  %i2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
  %c2 = linalg.conv_2d_nchw_fchw ins(%c1, %w2 : tensor<1x8x6x6xf32>, tensor<8x8x3x3xf32>) outs(%i2 : tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
  return %c2 : tensor<1x8x4x4xf32>
}
