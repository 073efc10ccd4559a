{
  "targets": [
    {
      "target_name": "neural_style",
      "sources": [
        "native/binding/addon.cpp",
        "native/binding/convert.cpp",
        "native/engine/cpu_memory.cpp",
        "native/engine/cuda_memory.cpp",
        "native/engine/objective.cpp",
        "native/engine/stylize.cpp",
        "native/engine/vgg.cpp",
        "native/engine/vgg_writer.cpp"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/libtorch-flags.js include_dirs)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-O2", "-fexceptions", "<!@(node scripts/libtorch-flags.js cflags)"],
      "ldflags": ["<!@(node scripts/libtorch-flags.js ldflags)"],
      "libraries": ["<!@(node scripts/libtorch-flags.js libraries)", "-ldl"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "GCC_ENABLE_CPP_RTTI": "YES",
        "OTHER_CPLUSPLUSFLAGS": ["<!@(node scripts/libtorch-flags.js cflags)"]
      }
    }
  ]
}
