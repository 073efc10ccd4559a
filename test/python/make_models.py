"""Writes the TorchScript models the tests load, into the folder given as the first argument.

  tiny-numbered.pt  torch.jit.script of an nn.Sequential laid out like torchvision's
                    vgg19().features (children 0..36), with few channels
  tiny-named.pt     the same layout with children named conv1_1, relu1_1, pool1, ... and
                    metadata saying its inputs use caffe preprocessing
  tiny-whole.pt     a whole-network module keeping its layers under `features`
  not-vgg.pt        a TorchScript module that is no VGG
  tiny-shallow.pt   tiny-numbered.pt's layout up to pool4: no relu5_1, a default style layer
  huge-weights.pt   tiny-numbered.pt with every weight times 1e30: finite, but its activations overflow
  zip-not-torchscript.pt  a zip archive of one file at its top level, as no torch.save writes
  nan-weights.pt    tiny-numbered.pt's layout with a NaN among conv3_2's weights
  vgg19-full.pt     (with --full) torchvision's genuine vgg19().features, random weights, 80 MB

and the checkpoints (torch.save files) the model conversion reads:

  tiny-features.pth        tiny-numbered.pt's state dict, keyed 0.weight ..., zip layout
  tiny-vgg-named.pth       the same keyed conv1_1.weight ..., as the authors' vgg_conv.pth
  tiny-whole-legacy.pth    the same keyed features.0.weight ..., plus a classifier, in the legacy
                           layout with tensors rebuilt as PyTorch before 0.4 wrote them, as in
                           the published VGG-19 files of 2017
  tiny-cuda-legacy.pth     the same as if saved from a GPU (torch.cuda.FloatStorage)
  tiny-noncontiguous.pth   the same with every weight transposed in memory, and a Parameter
  tiny-double.pth, tiny-nan.pth, tiny-misshapen.pth, not-vgg.pth, list.pth, module.pth
  vgg19-full-legacy.pth    (with --full) vgg19-full.pt's weights in the legacy layout
"""
import collections
import os
import sys
import zipfile

import torch
from torch import nn

BLOCKS = [2, 2, 4, 4, 4]  # convolutions per block in VGG-19
TINY_WIDTHS = [4, 6, 8, 8, 8]


def vgg_layers(widths):
    """(name, module) pairs of a VGG-19 feature stack with the given width per block."""
    layers, channels = [], 3
    for block, (count, width) in enumerate(zip(BLOCKS, widths), start=1):
        for index in range(1, count + 1):
            conv = nn.Conv2d(channels, width, 3, padding=1)
            # He initialisation keeps activations near unit scale through all 16 layers.
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.uniform_(conv.bias, -0.1, 0.1)
            layers.append((f"conv{block}_{index}", conv))
            layers.append((f"relu{block}_{index}", nn.ReLU(inplace=True)))
            channels = width
        layers.append((f"pool{block}", nn.MaxPool2d(2, 2)))
    return layers


class Whole(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.features = features
        self.classifier = nn.Linear(8, 2)

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


class OldTensor:
    """Pickles as PyTorch before 0.4 pickled tensors: torch._utils._rebuild_tensor, no v2."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __reduce__(self):
        t = self.tensor
        return torch._utils._rebuild_tensor, (t.storage(), t.storage_offset(), tuple(t.size()), t.stride())


def legacy_save(state, path):
    torch.save(collections.OrderedDict((key, OldTensor(value)) for key, value in state.items()), path,
               _use_new_zipfile_serialization=False)


def by_layer_name(state):
    """The state dict keyed as the authors' vgg_conv.pth is: conv1_1.weight ... for 0.weight ..."""
    names = [f"conv{block + 1}_{i + 1}" for block, count in enumerate([2, 2, 4, 4, 4]) for i in range(count)]
    indices = sorted({int(key.split(".")[0]) for key in state})
    return collections.OrderedDict(
        (f"{names[indices.index(int(key.split('.')[0]))]}.{key.split('.')[1]}", value) for key, value in state.items())


def make_checkpoints(folder, features):
    state = features.state_dict()
    join = lambda name: os.path.join(folder, name)
    torch.save(state, join("tiny-features.pth"))
    torch.save(by_layer_name(state), join("tiny-vgg-named.pth"))
    whole = collections.OrderedDict(("features." + key, value) for key, value in state.items())
    whole["classifier.0.weight"] = torch.randn(5, 8)
    legacy_save(whole, join("tiny-whole-legacy.pth"))
    # As saved from a GPU, which needs none to fake: only the storage type's name differs.
    with open(join("tiny-whole-legacy.pth"), "rb") as saved, open(join("tiny-cuda-legacy.pth"), "wb") as cuda:
        cuda.write(saved.read().replace(b"ctorch\nFloatStorage\n", b"ctorch.cuda\nFloatStorage\n"))
    noncontiguous = collections.OrderedDict(
        (key, value.transpose(0, 1).contiguous().transpose(0, 1) if value.dim() == 4 else nn.Parameter(value))
        for key, value in state.items())
    torch.save(noncontiguous, join("tiny-noncontiguous.pth"))
    torch.save({key: value.double() for key, value in state.items()}, join("tiny-double.pth"))
    torch.save({**state, "14.weight": state["14.weight"].clone().fill_(float("nan"))}, join("tiny-nan.pth"))
    torch.save({**state, "5.weight": torch.zeros(6, 4, 5, 5)}, join("tiny-misshapen.pth"))
    torch.save({"conv.weight": torch.zeros(3)}, join("not-vgg.pth"))
    torch.save([torch.zeros(3)], join("list.pth"))
    torch.save(features, join("module.pth"))


def main():
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(1)
    layers = vgg_layers(TINY_WIDTHS)
    numbered = nn.Sequential(*[module for _, module in layers])
    torch.jit.script(numbered).save(os.path.join(folder, "tiny-numbered.pt"))

    named = nn.Sequential(collections.OrderedDict(vgg_layers(TINY_WIDTHS)))
    torch.jit.save(torch.jit.script(named), os.path.join(folder, "tiny-named.pt"),
                   _extra_files={"neural_style/preprocess": "caffe"})

    torch.jit.script(Whole(nn.Sequential(*[m for _, m in vgg_layers(TINY_WIDTHS)]))).save(
        os.path.join(folder, "tiny-whole.pt"))

    make_checkpoints(folder, numbered)

    damaged = nn.Sequential(*[module for _, module in vgg_layers(TINY_WIDTHS)])
    with torch.no_grad():
        damaged[12].weight[0, 0, 1, 1] = float("nan")  # conv3_2: the 7th convolution
    torch.jit.script(damaged).save(os.path.join(folder, "nan-weights.pt"))

    not_vgg = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
    torch.jit.script(not_vgg).save(os.path.join(folder, "not-vgg.pt"))

    # From a generator of its own, so that the models after it keep their weights.
    with torch.random.fork_rng():
        torch.manual_seed(2)
        shallow = [module for name, module in vgg_layers(TINY_WIDTHS) if not name.endswith(("5", "5_1", "5_2", "5_3", "5_4"))]
        torch.jit.script(nn.Sequential(*shallow)).save(os.path.join(folder, "tiny-shallow.pt"))
        huge = nn.Sequential(*[module for _, module in vgg_layers(TINY_WIDTHS)])
        with torch.no_grad():
            for module in huge:
                if isinstance(module, nn.Conv2d):
                    module.weight.mul_(1e30)
        torch.jit.script(huge).save(os.path.join(folder, "huge-weights.pt"))
    with zipfile.ZipFile(os.path.join(folder, "zip-not-torchscript.pt"), "w") as archive:
        archive.writestr("notes.txt", "not a model")

    if "--full" in sys.argv:
        import torchvision
        full = torchvision.models.vgg19().features
        legacy_save(full.state_dict(), os.path.join(folder, "vgg19-full-legacy.pth"))
        # Written last: the test set-up takes this file's age for the age of them all.
        torch.jit.script(full).save(os.path.join(folder, "vgg19-full.pt"))


if __name__ == "__main__":
    main()
