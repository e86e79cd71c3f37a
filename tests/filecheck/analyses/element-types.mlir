// Bytes per element come from the element type as MLIR's bindings read it (ShapedType, the
// type's bit width), not from the type's spelling: f8E4M3FN and ui8 take one byte, i4 is
// packed two to a byte, i1 takes a byte (as IREE stores it). Each tensor has 4x8 = 32
// elements. (A regular expression over `tensor<4x8xf8E4M3FN>` once counted 4 bytes an element.)
// RUN: frontend-mess analyze %s --json -q | filecheck %s

// CHECK-LABEL: "element_types": {
// CHECK-DAG: "f8E4M3FN": 2
// CHECK-DAG: "ui8": 1
// CHECK-DAG: "i1": 1
// CHECK-DAG: "i4": 1
// The f8 add reads an f8 input (32 B), a ui8 input (32 B) and the f8 init (32 B), writes 32 B.
// CHECK-LABEL: "ops": [
// CHECK: "operand_types": [
// CHECK-NEXT: "tensor<4x8xf8E4M3FN>",
// CHECK: "bytes_read": 96,
// CHECK-NEXT: "bytes_written": 32,
// The i1 -> i4 op reads 32 B of i1 and 16 B of packed i4, writes 16 B.
// CHECK: "bytes_read": 48,
// CHECK-NEXT: "bytes_written": 16,

func.func @f(%a: tensor<4x8xf8E4M3FN>, %b: tensor<4x8xui8>, %c: tensor<4x8xi1>, %d: tensor<4x8xi4>) -> (tensor<4x8xf8E4M3FN>, tensor<4x8xi4>) {
  %0 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a, %b : tensor<4x8xf8E4M3FN>, tensor<4x8xui8>) outs(%a : tensor<4x8xf8E4M3FN>) {
  ^bb0(%x: f8E4M3FN, %y: ui8, %z: f8E4M3FN):
    %s = arith.addf %x, %z : f8E4M3FN
    linalg.yield %s : f8E4M3FN
  } -> tensor<4x8xf8E4M3FN>
  %1 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%c : tensor<4x8xi1>) outs(%d : tensor<4x8xi4>) {
  ^bb0(%x: i1, %z: i4):
    %e = arith.extui %x : i1 to i4
    %s = arith.addi %e, %z : i4
    linalg.yield %s : i4
  } -> tensor<4x8xi4>
  return %0, %1 : tensor<4x8xf8E4M3FN>, tensor<4x8xi4>
}
