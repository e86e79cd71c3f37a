// A 4x8 by 8x16 matmul with its zero fill and a bias add: exact counts from a hand-written file.
// matmul: 4*16*8 = 512 iterations, one multiply-add each = 512 MACs, 1024 FLOPs; it reads
// A (128 B), B (512 B) and the init (256 B) and writes 256 B.
// RUN: frontend-mess analyze %s | filecheck %s
// RUN: frontend-mess analyze %s --json | filecheck %s --check-prefix=JSON

// CHECK: linalg.fill {{ *}}1
// CHECK: linalg.generic {{ *}}1
// CHECK: linalg.matmul {{ *}}1
// CHECK: linalg.generic after generalization: 3
// CHECK: unique indexing maps: {{ *}}6
// CHECK: unique iterator signatures: {{ *}}2
// CHECK: total MACs:     512
// CHECK: total FLOPs:    1.088 K
// CHECK: parallel×2, reduction×1  1
// CHECK-NOT: grouped by

// JSON: "schema_version": 2
// JSON: "named": "linalg.matmul"
// JSON-NEXT: "iterators": "parallel×2, reduction×1"
// JSON-NEXT: "maps": [
// JSON-NEXT: "(d0, d1, d2) -> (d0, d2)"
// JSON-NEXT: "(d0, d1, d2) -> (d2, d1)"
// JSON-NEXT: "(d0, d1, d2) -> (d0, d1)"
// JSON: "loop_sizes": [
// JSON-NEXT: 4,
// JSON-NEXT: 16,
// JSON-NEXT: 8
// JSON: "macs": 512,
// JSON-NEXT: "flops": 1024,
// JSON-NEXT: "bytes_read": 896,
// JSON-NEXT: "bytes_written": 256,

#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d1)>
func.func @main(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>, %bias: tensor<16xf32>) -> tensor<4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x16xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x16xf32>) -> tensor<4x16xf32>
  %mm = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x16xf32>) outs(%init : tensor<4x16xf32>) -> tensor<4x16xf32>
  %out = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%mm, %bias : tensor<4x16xf32>, tensor<16xf32>) outs(%empty : tensor<4x16xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %s = arith.addf %x, %y : f32
    linalg.yield %s : f32
  } -> tensor<4x16xf32>
  return %out : tensor<4x16xf32>
}
