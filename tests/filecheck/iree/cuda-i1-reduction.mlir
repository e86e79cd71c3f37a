// IREE 3.13's CUDA codegen cannot bufferize a reduction into i1, with any of its GPU
// pipelines: this is torch's `_safe_softmax` (the SDPA math in every transformers model with
// sdpa attention) asking `all(scores == -inf, dim=-1)` for fully masked rows. frontend-mess
// rewrites that `aten.all.dim` on bool as `amin` on int32 before import
// (importers/fx.py bool_all_as_int32_min), which compiles. The dispatch is from BERT
// (hf-tiny) by `iree-compile --iree-hal-dump-executable-sources-to`. The first RUN fails
// once IREE is fixed: then drop the rewrite.
//
// RUN: (iree-compile --compile-mode=hal-executable %s -o %t.fb 2>&1; echo "exit=$?") | filecheck %s --check-prefix=UPSTREAM
// RUN: frontend-mess compile %inputs/masked_attention.py --target cuda -o %t.vmfb 2>&1 | filecheck %s --check-prefix=FIXED

// UPSTREAM: error: failed to bufferize op
// UPSTREAM: exit=1
// FIXED: assembled for sm_80 with ptxas
// FIXED: wrote {{.*}}.vmfb

hal.executable public @main$async_dispatch_6 {
  hal.executable.variant public @cuda_nvptx_fb target(<"cuda", "cuda-nvptx-fb", {iree_codegen.target_info = #iree_gpu.target<arch = "sm_80", features = "+ptx76", wgp = <compute = fp64|fp32|fp16|int64|int32|int16|int8, storage = b64|b32|b16|b8, subgroup = shuffle|arithmetic, dot = dp4xi8toi32, mma = [<NV_MMA_SYNC_F32_16x8x16_F16>, <NV_MMA_SYNC_F16_16x8x16_F16>, <NV_MMA_SYNC_F32_16x8x16_BF16>, <NV_WMMA_F32_16x16x16_F16>, <NV_WMMA_F16_16x16x16_F16>], subgroup_size_choices = [32], max_workgroup_sizes = [1024, 1024, 1024], max_thread_count_per_workgroup = 1024, max_workgroup_memory_bytes = 166912, max_workgroup_counts = [2147483647, 65535, 65535]>>}>) {
    hal.executable.export public @main$async_dispatch_6_reduction_16x8_f32xi1 ordinal(0) layout(#hal.pipeline.layout<bindings = [#hal.pipeline.binding<storage_buffer, "ReadOnly|Indirect">, #hal.pipeline.binding<storage_buffer, Indirect>, #hal.pipeline.binding<storage_buffer, Indirect>], flags = Indirect>) count(%arg0: !hal.device) -> (index, index, index) {
      %x, %y, %z = iree_tensor_ext.dispatch.workgroup_count_from_slice()
      hal.return %x, %y, %z : index, index, index
    }
    builtin.module {
      func.func @main$async_dispatch_6_reduction_16x8_f32xi1() {
        %c8 = arith.constant 8 : index
        %cst = arith.constant 0.000000e+00 : f32
        %cst_0 = arith.constant 0xFF800000 : f32
        %true = arith.constant true
        %c0_i64 = arith.constant 0 : i64
        %c8_i64 = arith.constant 8 : i64
        %c2048 = arith.constant 2048 : index
        %c8256 = arith.constant 8256 : index
        %c4160 = arith.constant 4160 : index
        %c4224 = arith.constant 4224 : index
        %0 = hal.interface.binding.subspan layout(<bindings = [#hal.pipeline.binding<storage_buffer, "ReadOnly|Indirect">, #hal.pipeline.binding<storage_buffer, Indirect>, #hal.pipeline.binding<storage_buffer, Indirect>], flags = Indirect>) binding(0) alignment(64) offset(%c2048) flags("ReadOnly|Indirect") : !iree_tensor_ext.dispatch.tensor<readonly:tensor<8xi8>>
        %1 = hal.interface.binding.subspan layout(<bindings = [#hal.pipeline.binding<storage_buffer, "ReadOnly|Indirect">, #hal.pipeline.binding<storage_buffer, Indirect>, #hal.pipeline.binding<storage_buffer, Indirect>], flags = Indirect>) binding(0) alignment(64) offset(%c8256) flags("ReadOnly|Indirect") : !iree_tensor_ext.dispatch.tensor<readonly:tensor<16x8xf32>>
        %2 = hal.interface.binding.subspan layout(<bindings = [#hal.pipeline.binding<storage_buffer, "ReadOnly|Indirect">, #hal.pipeline.binding<storage_buffer, Indirect>, #hal.pipeline.binding<storage_buffer, Indirect>], flags = Indirect>) binding(1) alignment(64) offset(%c4160) flags(Indirect) : !iree_tensor_ext.dispatch.tensor<writeonly:tensor<16xi8>>
        %3 = hal.interface.binding.subspan layout(<bindings = [#hal.pipeline.binding<storage_buffer, "ReadOnly|Indirect">, #hal.pipeline.binding<storage_buffer, Indirect>, #hal.pipeline.binding<storage_buffer, Indirect>], flags = Indirect>) binding(2) alignment(64) offset(%c4224) flags(Indirect) : !iree_tensor_ext.dispatch.tensor<writeonly:tensor<16x8xf32>>
        %4 = iree_tensor_ext.dispatch.tensor.load %0, offsets = [0], sizes = [8], strides = [1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<8xi8>> -> tensor<8xi8>
        %5 = arith.trunci %4 : tensor<8xi8> to tensor<8xi1>
        %6 = iree_tensor_ext.dispatch.tensor.load %1, offsets = [0, 0], sizes = [16, 8], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<16x8xf32>> -> tensor<16x8xf32>
        %7 = tensor.empty() : tensor<16xi1>
        %8 = linalg.fill ins(%true : i1) outs(%7 : tensor<16xi1>) -> tensor<16xi1>
        %9 = tensor.empty() : tensor<16x8xf32>
        %10 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%6 : tensor<16x8xf32>) outs(%9 : tensor<16x8xf32>) {
        ^bb0(%in: f32, %out: f32):
          %13 = linalg.index 0 : index
          %14 = arith.remsi %13, %c8 : index
          %15 = linalg.index 1 : index
          %16 = arith.index_cast %15 : index to i64
          %17 = arith.cmpi slt, %16, %c0_i64 : i64
          %18 = arith.addi %16, %c8_i64 : i64
          %19 = arith.select %17, %18, %16 : i64
          %20 = arith.index_cast %19 : i64 to index
          %extracted = tensor.extract %5[%20] : tensor<8xi1>
          %21 = arith.index_cast %14 : index to i64
          %22 = arith.cmpi sge, %21, %c0_i64 : i64
          %23 = arith.andi %22, %extracted : i1
          %24 = arith.select %23, %cst, %cst_0 : f32
          %25 = arith.addf %in, %24 : f32
          linalg.yield %25 : f32
        } -> tensor<16x8xf32>
        %11 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%10 : tensor<16x8xf32>) outs(%8 : tensor<16xi1>) {
        ^bb0(%in: f32, %out: i1):
          %13 = arith.cmpf oeq, %in, %cst_0 : f32
          %14 = arith.andi %13, %out : i1
          linalg.yield %14 : i1
        } -> tensor<16xi1>
        %12 = arith.extui %11 : tensor<16xi1> to tensor<16xi8>
        iree_tensor_ext.dispatch.tensor.store %12, %2, offsets = [0], sizes = [16], strides = [1] : tensor<16xi8> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<16xi8>>
        iree_tensor_ext.dispatch.tensor.store %10, %3, offsets = [0, 0], sizes = [16, 8], strides = [1, 1] : tensor<16x8xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<16x8xf32>>
        return
      }
    }
  }
}
