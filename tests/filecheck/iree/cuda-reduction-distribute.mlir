// IREE 3.13's CUDA codegen fails this dispatch: BatchNorm + ReLU whose result is both stored
// and reduced (a mean over 56x56), as torchvision's SqueezeExcitation makes it in
// mobilenet_v3_small. The reduction VectorDistribute pipeline cannot distribute it (the same
// error class on HIP: iree #24282, #24283); with it off the warp-reduction pipeline compiles
// it, and frontend-mess's cuda flags turn it off (backend/targets.py CUDA_CODEGEN_FLAGS).
// This is the dispatch from `iree-compile --iree-hal-dump-executable-sources-to`, its
// weights replaced by splats. The first RUN fails once IREE is fixed: then drop the flag.
//
// RUN: (iree-compile --compile-mode=hal-executable %s -o %t.fb 2>&1; echo "exit=$?") | filecheck %s --check-prefix=UPSTREAM
// RUN: iree-compile --compile-mode=hal-executable %s --iree-codegen-llvmgpu-use-reduction-vector-distribution=false -o %t.fb
// RUN: %python -c "import sys; d = open(sys.argv[1], 'rb').read(); print(d[d.find(b'.entry'):][:60].decode())" %t.fb | filecheck %s --check-prefix=FIXED
// RUN: %python -c "from frontend_mess.backend.targets import target_spec; print(target_spec('cuda').flags)" | filecheck %s --check-prefix=FLAGS

// UPSTREAM: error: 'func.func' op failed to distribute
// UPSTREAM: exit=1
// FIXED: .entry main_async_dispatch_3_reduction_16x3136_f32
// FLAGS: --iree-codegen-llvmgpu-use-reduction-vector-distribution=false

hal.executable public @main$async_dispatch_3 {
  hal.executable.variant public @cuda_nvptx_fb target(<"cuda", "cuda-nvptx-fb", {iree_codegen.target_info = #iree_gpu.target<arch = "sm_80", features = "+ptx76", wgp = <compute = fp64|fp32|fp16|int64|int32|int16|int8, storage = b64|b32|b16|b8, subgroup = shuffle|arithmetic, dot = dp4xi8toi32, mma = [<NV_MMA_SYNC_F32_16x8x16_F16>, <NV_MMA_SYNC_F16_16x8x16_F16>, <NV_MMA_SYNC_F32_16x8x16_BF16>, <NV_WMMA_F32_16x16x16_F16>, <NV_WMMA_F16_16x16x16_F16>], subgroup_size_choices = [32], max_workgroup_sizes = [1024, 1024, 1024], max_thread_count_per_workgroup = 1024, max_workgroup_memory_bytes = 166912, max_workgroup_counts = [2147483647, 65535, 65535]>>}>) {
    hal.executable.export public @main$async_dispatch_3_reduction_16x3136_f32 ordinal(0) layout(#hal.pipeline.layout<bindings = [#hal.pipeline.binding<storage_buffer, "ReadOnly|Indirect">, #hal.pipeline.binding<storage_buffer, ReadOnly>, #hal.pipeline.binding<storage_buffer, Indirect>, #hal.pipeline.binding<storage_buffer, Indirect>], flags = Indirect>) count(%arg0: !hal.device) -> (index, index, index) {
      %x, %y, %z = iree_tensor_ext.dispatch.workgroup_count_from_slice()
      hal.return %x, %y, %z : index, index, index
    }
    builtin.module {
      func.func @main$async_dispatch_3_reduction_16x3136_f32() {
        %cst = arith.constant dense<1.000000e+00> : tensor<16xf32>
        %cst_0 = arith.constant dense<1.000000e+00> : tensor<16xf32>
        %cst_1 = arith.constant dense<1.000000e+00> : tensor<16xf32>
        %cst_2 = arith.constant 0.000000e+00 : f32
        %cst_3 = arith.constant 3.136000e+03 : f32
        %c0 = arith.constant 0 : index
        %c6592 = arith.constant 6592 : index
        %c200704 = arith.constant 200704 : index
        %c401408 = arith.constant 401408 : index
        %0 = hal.interface.binding.subspan layout(<bindings = [#hal.pipeline.binding<storage_buffer, "ReadOnly|Indirect">, #hal.pipeline.binding<storage_buffer, ReadOnly>, #hal.pipeline.binding<storage_buffer, Indirect>, #hal.pipeline.binding<storage_buffer, Indirect>], flags = Indirect>) binding(0) alignment(64) offset(%c0) flags("ReadOnly|Indirect") : !iree_tensor_ext.dispatch.tensor<readonly:tensor<16x3136xf32>>
        %1 = hal.interface.binding.subspan layout(<bindings = [#hal.pipeline.binding<storage_buffer, "ReadOnly|Indirect">, #hal.pipeline.binding<storage_buffer, ReadOnly>, #hal.pipeline.binding<storage_buffer, Indirect>, #hal.pipeline.binding<storage_buffer, Indirect>], flags = Indirect>) binding(1) alignment(64) offset(%c6592) flags(ReadOnly) : !iree_tensor_ext.dispatch.tensor<readonly:tensor<16xf32>>
        %2 = hal.interface.binding.subspan layout(<bindings = [#hal.pipeline.binding<storage_buffer, "ReadOnly|Indirect">, #hal.pipeline.binding<storage_buffer, ReadOnly>, #hal.pipeline.binding<storage_buffer, Indirect>, #hal.pipeline.binding<storage_buffer, Indirect>], flags = Indirect>) binding(2) alignment(64) offset(%c200704) flags(Indirect) : !iree_tensor_ext.dispatch.tensor<writeonly:tensor<16x3136xf32>>
        %3 = hal.interface.binding.subspan layout(<bindings = [#hal.pipeline.binding<storage_buffer, "ReadOnly|Indirect">, #hal.pipeline.binding<storage_buffer, ReadOnly>, #hal.pipeline.binding<storage_buffer, Indirect>, #hal.pipeline.binding<storage_buffer, Indirect>], flags = Indirect>) binding(3) alignment(64) offset(%c401408) flags(Indirect) : !iree_tensor_ext.dispatch.tensor<writeonly:tensor<16xf32>>
        %4 = iree_tensor_ext.dispatch.tensor.load %0, offsets = [0, 0], sizes = [16, 3136], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<16x3136xf32>> -> tensor<16x3136xf32>
        %5 = iree_tensor_ext.dispatch.tensor.load %1, offsets = [0], sizes = [16], strides = [1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<16xf32>> -> tensor<16xf32>
        %6 = tensor.empty() : tensor<16xf32>
        %7 = linalg.fill ins(%cst_2 : f32) outs(%6 : tensor<16xf32>) -> tensor<16xf32>
        %8 = tensor.empty() : tensor<16x3136xf32>
        %9 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%4, %cst, %5, %cst_0, %cst_1 : tensor<16x3136xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) outs(%8 : tensor<16x3136xf32>) {
        ^bb0(%in: f32, %in_4: f32, %in_5: f32, %in_6: f32, %in_7: f32, %out: f32):
          %12 = arith.subf %in, %in_4 : f32
          %13 = arith.mulf %12, %in_5 : f32
          %14 = arith.mulf %13, %in_6 : f32
          %15 = arith.addf %14, %in_7 : f32
          %16 = arith.cmpf ugt, %15, %cst_2 : f32
          %17 = arith.select %16, %15, %cst_2 : f32
          linalg.yield %17 : f32
        } -> tensor<16x3136xf32>
        %10 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%9 : tensor<16x3136xf32>) outs(%7 : tensor<16xf32>) {
        ^bb0(%in: f32, %out: f32):
          %12 = arith.addf %in, %out : f32
          linalg.yield %12 : f32
        } -> tensor<16xf32>
        %11 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%10 : tensor<16xf32>) outs(%6 : tensor<16xf32>) {
        ^bb0(%in: f32, %out: f32):
          %12 = arith.divf %in, %cst_3 : f32
          linalg.yield %12 : f32
        } -> tensor<16xf32>
        iree_tensor_ext.dispatch.tensor.store %9, %2, offsets = [0, 0], sizes = [16, 3136], strides = [1, 1] : tensor<16x3136xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<16x3136xf32>>
        iree_tensor_ext.dispatch.tensor.store %11, %3, offsets = [0], sizes = [16], strides = [1] : tensor<16xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<16xf32>>
        return
      }
    }
  }
}
