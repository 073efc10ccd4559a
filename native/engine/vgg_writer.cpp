// Writes a VGG-19 as TorchScript, so that weights converted from a state dict (lib/models.ts)
// load as any other model, in this engine and in PyTorch's torch.jit.load.
#include <torch/script.h>

#include "engine.h"
#include "vgg_format.h"

namespace neural_style {

void saveVgg19(const SaveModelOptions& options) {
  const auto& convolutions = options.convolutions;
  if (convolutions.size() != 16) {
    throw std::runtime_error("A VGG-19 has 16 convolutions, not " + std::to_string(convolutions.size()));
  }
  // Each layer's type is named after its torch.nn class, which is how a loader (this engine's
  // included) tells the layers apart; every module made here has a type of its own, so the
  // names are mangled apart within the one compilation unit.
  auto unit = std::make_shared<torch::jit::CompilationUnit>();
  auto newModule = [&](const std::string& type) {
    return torch::jit::Module(c10::QualifiedName("__torch__.neural_style." + type), unit, true);
  };
  torch::jit::Module network = newModule("VGG19Features");
  std::string forward = "def forward(self, x):\n";
  size_t next = 0;
  int64_t channels = 3;
  forEachVgg19Layer([&](const std::string& name, LayerKind kind, int64_t) {
    torch::jit::Module layer;
    switch (kind) {
      case LayerKind::Conv: {
        const Convolution& convolution = convolutions[next++];
        if (convolution.inChannels != channels) {
          throw std::runtime_error("Convolution " + name + " reads " + std::to_string(convolution.inChannels) +
                                   " channels, but the layer before it gives " + std::to_string(channels));
        }
        // from_blob does not own the data: clone, so that the module does.
        auto values = [](const std::vector<float>& data, at::IntArrayRef shape) {
          return torch::from_blob(const_cast<float*>(data.data()), shape).clone();
        };
        auto weight = values(convolution.weight, {convolution.outChannels, channels, 3, 3});
        auto bias = values(convolution.bias, {convolution.outChannels});
        if (!allFinite(weight) || !allFinite(bias)) {
          throw std::runtime_error("The weights of " + name + " are not all finite numbers");
        }
        layer = newModule("Conv2d");
        layer.register_parameter("weight", weight, false);
        layer.register_parameter("bias", bias, false);
        layer.define(
            "def forward(self, x):\n"
            "  return torch.conv2d(x, self.weight, self.bias, [1, 1], [1, 1])\n");
        channels = convolution.outChannels;
        break;
      }
      case LayerKind::Relu:
        layer = newModule("ReLU");
        layer.define("def forward(self, x):\n  return torch.relu(x)\n");
        break;
      case LayerKind::Pool:
        layer = newModule("MaxPool2d");
        layer.define("def forward(self, x):\n  return torch.max_pool2d(x, [2, 2], [2, 2])\n");
        break;
    }
    network.register_module(name, layer);
    forward += "  x = self." + name + ".forward(x)\n";
  });
  network.define(forward + "  return x\n");
  try {
    network.save(options.path, {{kPreprocessEntry, nameOf(options.preprocess)}});
  } catch (const c10::Error& error) {
    throw std::runtime_error("Could not write " + options.path + ": " + firstLine(error.what_without_backtrace()));
  }
}

}  // namespace neural_style
