"""How well a model written by convert-model --normalize-on is normalised: for each ReLU of the
normalised model, how far each filter's mean activation over the images and their positions is
from 1, and how many activations changed sign from the original model's (they should not: the
filters are only scaled). Reads a JSON request on stdin, prints a JSON answer.

request: {"original": path, "normalized": path, "preprocess": "caffe" | "torchvision",
          "images": [{"path": raw RGB bytes, "width", "height"}]}
"""
import json
import sys

import torch
import torch.nn.functional as F


def preprocess(rgb, kind):
    if kind == "caffe":
        return rgb.flip(1) * 255 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    return (rgb - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(
        1, 3, 1, 1)


def relu_outputs(model, x):
    """Each ReLU's output, pooling by averages as the normalisation did."""
    outputs = []
    for name, layer in model.named_children():
        if name.startswith("pool"):
            x = F.avg_pool2d(x, 2, 2)
        else:
            x = layer(x)
        if name.startswith("relu"):
            outputs.append((name, x))
    return outputs


def main():
    request = json.load(sys.stdin)
    original = torch.jit.load(request["original"])
    normalized = torch.jit.load(request["normalized"])
    images = []
    for image in request["images"]:
        raw = torch.frombuffer(bytearray(open(image["path"], "rb").read()), dtype=torch.uint8)
        rgb = raw.view(image["height"], image["width"], 3).permute(2, 0, 1).unsqueeze(0).float() / 255
        images.append(preprocess(rgb, request["preprocess"]))
    worst, dead, flipped, activations = 0.0, 0, 0, 0
    with torch.no_grad():
        per_layer = {}
        for x in images:
            for (name, before), (_, after) in zip(relu_outputs(original, x), relu_outputs(normalized, x)):
                sums, count = per_layer.get(name, (0, 0))
                per_layer[name] = (sums + after.double().sum((0, 2, 3)), count + after.shape[2] * after.shape[3])
                flipped += int(((before > 0) != (after > 0)).sum())
                activations += before.numel()
        for sums, count in per_layer.values():
            means = sums / count
            alive = means > 0
            dead += int((~alive).sum())
            worst = max(worst, float((means[alive] - 1).abs().max()))
    json.dump({"worstDeviation": worst, "deadFilters": dead, "flipped": flipped, "activations": activations,
               "layers": len(per_layer)}, sys.stdout)


if __name__ == "__main__":
    main()
