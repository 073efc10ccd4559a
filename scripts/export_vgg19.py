"""Exports a pretrained VGG-19 as the TorchScript file neural-style loads, with its preprocessing
recorded in the file. Needs Python with PyTorch, and torchvision for --torchvision-download (on
Debian: python3-torch and python3-torchvision, with /usr/bin/python3).

  python3 scripts/export_vgg19.py --weights vgg19-d01eb7cb.pth --preprocess caffe
  python3 scripts/export_vgg19.py --torchvision-download

--weights takes a state dict of torchvision's VGG-19 layout (keys such as features.0.weight, or
0.weight for the features alone), for example jcjohnson's conversion of the original Caffe
VGG-19, which expects caffe preprocessing and suits the default loss weights. --preprocess must
say how those weights expect their input: the file cannot tell. --torchvision-download has
torchvision fetch its own ImageNet weights (torchvision preprocessing) instead.
"""
import argparse
import os
import sys

import torch
from torch import nn

PREPROCESS_ENTRY = "neural_style/preprocess"
# Convolution widths of VGG-19, "M" for the max pooling that ends each block.
VGG19_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def fail(message):
    print(f"export_vgg19: {message}", file=sys.stderr)
    sys.exit(1)


def vgg19_features():
    """torchvision's vgg19().features, numbered alike, without the classifier it would also build."""
    layers, channels = [], 3
    for width in VGG19_LAYOUT:
        if width == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
            channels = width
    return nn.Sequential(*layers)


def read_state(path):
    try:
        return torch.load(path, map_location="cpu")
    except Exception as error:  # torch.load raises many kinds for a file it cannot read
        fail(f"could not read {path} as a PyTorch state dict: {error}")


def features_state(state, source):
    """The `features` part of a VGG-19 state dict, keyed as in vgg19().features."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        fail(f"{source} holds a {type(state).__name__}, not a state dict of tensors")
    if any(key.startswith("features.") for key in state):
        return {key[len("features."):]: value for key, value in state.items() if key.startswith("features.")}
    return dict(state)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", help="a VGG-19 state dict (.pth) in torchvision's layout")
    source.add_argument("--torchvision-download", action="store_true",
                        help="torchvision's ImageNet weights, fetched by torchvision")
    parser.add_argument("--preprocess", choices=["caffe", "torchvision"],
                        help="how the weights expect their input; required with --weights")
    parser.add_argument("--output", default="models/vgg19.pt", help="where to write (default models/vgg19.pt)")
    args = parser.parse_args()
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        fail(f"output directory does not exist: {folder}")

    if args.torchvision_download:
        if args.preprocess not in (None, "torchvision"):
            fail("torchvision's weights expect torchvision preprocessing")
        preprocess, source = "torchvision", "torchvision's IMAGENET1K_V1 weights"
        import torchvision

        # Fetched once into torchvision's cache ($TORCH_HOME/hub/checkpoints), then read from it.
        state = torchvision.models.VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    else:
        if args.preprocess is None:
            fail("--preprocess caffe or --preprocess torchvision is required with --weights: "
                 "caffe for conversions of the original Caffe VGG-19 (BGR, 0..255), torchvision "
                 "for torchvision's own weights")
        preprocess, source = args.preprocess, args.weights
        state = read_state(args.weights)

    state = features_state(state, source)
    features = vgg19_features()
    expected = features.state_dict().keys()
    missing = [key for key in expected if key not in state]
    if missing:
        fail(f"{source} is not a VGG-19 state dict: it lacks {', '.join(missing[:3])}"
             + (f" and {len(missing) - 3} more" if len(missing) > 3 else ""))
    try:
        features.load_state_dict({key: state[key] for key in expected})
    except RuntimeError as error:
        fail(f"{source} does not fit VGG-19: {error}")

    features.eval()
    for parameter in features.parameters():
        parameter.requires_grad_(False)
    # Written whole or not at all: a half-written model would fail later, and less clearly.
    partial = f"{args.output}.partial"
    try:
        torch.jit.save(torch.jit.script(features), partial, _extra_files={PREPROCESS_ENTRY: preprocess})
        os.replace(partial, args.output)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    print(f"Wrote {args.output} ({preprocess} preprocessing)")


if __name__ == "__main__":
    main()
