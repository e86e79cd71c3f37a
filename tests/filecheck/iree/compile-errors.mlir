// A compiler failure names the stage and the first op IREE could not convert (here a
// constant the unlowerable FFT left behind), and --keep-diagnostics keeps the rest.
// `torch.aten.fft_fft` is valid torch dialect that IREE's torch input conversion cannot lower.
// RUN: rm -rf %t.diag
// RUN: (frontend-mess compile %s -q -o %t.vmfb --keep-diagnostics %t.diag 2>&1; echo "exit=$?") | filecheck %s
// RUN: test -f %t.diag/diagnostics.txt && test -f %t.diag/input.mlir
// RUN: test ! -e %t.vmfb
// RUN: (frontend-mess compile %t.missing.mlir 2>&1; echo "exit=$?") | filecheck %s --check-prefix=MISSING

// CHECK: frontend-mess: error: [compile] IREE failed at input conversion for {{.*}}compile-errors.mlir on llvm-cpu: error: failed to legalize operation 'torch.
// CHECK-SAME: (full diagnostics and IR in {{.*}}diag)
// A compile failure is a pipeline failure (exit 3), not a usage error (exit 2).
// CHECK-NEXT: exit=3
// MISSING: frontend-mess: error: MLIR file {{.*}}missing.mlir does not exist
// MISSING-NEXT: exit=2

func.func @main(%arg0: !torch.vtensor<[8],f32>) -> !torch.vtensor<[8],complex<f32>> {
  %none = torch.constant.none
  %int-1 = torch.constant.int -1
  %0 = torch.aten.fft_fft %arg0, %none, %int-1, %none : !torch.vtensor<[8],f32>, !torch.none, !torch.int, !torch.none -> !torch.vtensor<[8],complex<f32>>
  return %0 : !torch.vtensor<[8],complex<f32>>
}
