"""Writes the TorchScript models the tests load, into the folder given as the first argument.

  tiny-numbered.pt  torch.jit.script of an nn.Sequential laid out like torchvision's
                    vgg19().features (children 0..36), with few channels
  tiny-named.pt     the same layout with children named conv1_1, relu1_1, pool1, ... and
                    metadata saying its inputs use caffe preprocessing
  tiny-whole.pt     a whole-network module keeping its layers under `features`
  not-vgg.pt        a TorchScript module that is no VGG
  nan-weights.pt    tiny-numbered.pt's layout with a NaN among conv3_2's weights
  vgg19-full.pt     (with --full) torchvision's genuine vgg19().features, random weights, 80 MB
"""
import collections
import os
import sys

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

    damaged = nn.Sequential(*[module for _, module in vgg_layers(TINY_WIDTHS)])
    with torch.no_grad():
        damaged[12].weight[0, 0, 1, 1] = float("nan")  # conv3_2: the 7th convolution
    torch.jit.script(damaged).save(os.path.join(folder, "nan-weights.pt"))

    not_vgg = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
    torch.jit.script(not_vgg).save(os.path.join(folder, "not-vgg.pt"))

    if "--full" in sys.argv:
        import torchvision
        torch.jit.script(torchvision.models.vgg19().features).save(
            os.path.join(folder, "vgg19-full.pt"))


if __name__ == "__main__":
    main()
