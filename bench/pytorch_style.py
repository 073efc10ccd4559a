"""Neural style transfer as a PyTorch user writes it (after ProGamerGov's neural-style-pt): the
VGG-19 as an nn.Sequential with loss modules after the content and style layers, Gram matrices
in a module, torch.optim.LBFGS with a history of 100, and torch.autocast for bfloat16. The
benchmark's baseline: same model file, images, weights and threads as the addon's runs.

Reads a JSON request on stdin, writes a JSON answer on stdout.
  run:    {"mode": "run", model, content, style (raw RGB files with width and height), size,
           iterations, precision, threads, contentWeight, styleWeight, tvWeight, contentLayers,
           styleLayers} -> {"iterationMs": [...], "loss": last loss, "peakRssBytes": ...}
  floor:  the convolutions alone: the same network to its last loss layer, forward and the
          gradient with respect to the input only -> {"floorMs": median of 5, per precision}
  matmul: square matrix products, float32 and bfloat16 -> {"gflops": {...}}
"""
import json
import math
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn

CAFFE_MEAN_BGR = [103.939, 116.779, 123.68]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def preprocessing(path):
    """How the model's weights expect their input, as neural-style's models record it."""
    extra = {"neural_style/preprocess": ""}
    torch.jit.load(path, _extra_files=extra)
    return extra["neural_style/preprocess"].decode() or "torchvision"


def vgg_layers(path):
    """The TorchScript model's layers with the VGG names, average pooling as the addon's default."""
    module = torch.jit.load(path)
    children = dict(module.named_children())
    module = children.get("features", module)
    layers, block, index = [], 1, 0
    for _, child in module.named_children():
        kind = child.original_name
        if kind == "Conv2d":
            index += 1
            conv = nn.Conv2d(child.weight.shape[1], child.weight.shape[0], 3, padding=1)
            conv.weight.data.copy_(child.weight)
            conv.bias.data.copy_(child.bias)
            layers.append((f"conv{block}_{index}", conv))
        elif kind == "ReLU":
            layers.append((f"relu{block}_{index}", nn.ReLU(inplace=False)))
        else:
            layers.append((f"pool{block}", nn.AvgPool2d(2, 2)))
            block, index = block + 1, 0
    return layers


class Gram(nn.Module):
    def forward(self, x):
        _, c, h, w = x.shape
        flat = x.view(c, h * w)
        return torch.mm(flat, flat.t()) / (c * h * w)


class ContentLoss(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight, self.target, self.mode, self.loss = weight, None, "none", 0

    def forward(self, x):
        if self.mode == "capture":
            self.target = x.detach()
        elif self.mode == "loss":
            self.loss = nn.functional.mse_loss(x.float(), self.target.float()) * self.weight
        return x


class StyleLoss(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight, self.target, self.mode, self.loss, self.gram = weight, None, "none", 0, Gram()

    def forward(self, x):
        if self.mode == "capture":
            self.target = self.gram(x.float()).detach()
        elif self.mode == "loss":
            self.loss = nn.functional.mse_loss(self.gram(x.float()), self.target) * self.weight
        return x


def build(request):
    wanted = set(request["contentLayers"]) | set(request["styleLayers"])
    net, content_losses, style_losses = nn.Sequential(), [], []
    for name, layer in vgg_layers(request["model"]):
        net.add_module(name, layer)
        if name in request["contentLayers"]:
            content_losses.append(ContentLoss(request["contentWeight"]))
            net.add_module(f"content_{name}", content_losses[-1])
        if name in request["styleLayers"]:
            style_losses.append(StyleLoss(request["styleWeight"]))
            net.add_module(f"style_{name}", style_losses[-1])
        wanted.discard(name)
        if not wanted:
            break
    for parameter in net.parameters():
        parameter.requires_grad = False
    return net, content_losses, style_losses


def load_image(image, preprocess):
    data = np.fromfile(image["path"], dtype=np.uint8).reshape(image["height"], image["width"], 3)
    rgb = torch.from_numpy(data.copy()).permute(2, 0, 1).unsqueeze(0).float() / 255
    if preprocess == "caffe":
        return (rgb[:, [2, 1, 0]] * 255 - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)).contiguous()
    return (rgb - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def tv_loss(x, weight):
    dx = x[:, :, :-1, :-1] - x[:, :, :-1, 1:]
    dy = x[:, :, :-1, :-1] - x[:, :, 1:, :-1]
    return weight * 0.5 * (dx.pow(2).sum() + dy.pow(2).sum())


def autocast(precision):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16")


def run(request):
    net, content_losses, style_losses = build(request)
    preprocess = preprocessing(request["model"])
    content, style = load_image(request["content"], preprocess), load_image(request["style"], preprocess)
    with torch.no_grad(), autocast(request["precision"]):
        for module in content_losses:
            module.mode = "capture"
        net(content)
        for module in content_losses:
            module.mode = "none"
        for module in style_losses:
            module.mode = "capture"
        net(style)
    for module in content_losses + style_losses:
        module.mode = "loss"

    image = content.clone().contiguous().requires_grad_(True)
    optimizer = torch.optim.LBFGS([image], max_iter=request["iterations"], tolerance_grad=-1,
                                  tolerance_change=-1, history_size=100)
    stamps, losses = [], []

    def closure():
        optimizer.zero_grad()
        with autocast(request["precision"]):
            net(image)
        loss = sum(m.loss for m in content_losses) + sum(m.loss for m in style_losses)
        loss = loss + tv_loss(image, request["tvWeight"])
        loss.backward()
        stamps.append(time.perf_counter())
        losses.append(loss.item())
        return loss

    start = time.perf_counter()
    optimizer.step(closure)
    times = [start] + stamps
    return {
        "iterationMs": [(b - a) * 1000 for a, b in zip(times, times[1:])],
        "loss": losses[-1] if math.isfinite(losses[-1]) else None,
        "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def median_ms(work, repeats=5):
    work()  # once to warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[len(times) // 2]


def floor(request):
    """The convolutions (with their ReLUs and poolings) to the last loss layer, forward, and the
    gradient with respect to the input alone: what no implementation of the method can skip."""
    net, _, _ = build(request)
    convolutions = nn.Sequential(*[m for m in net if not isinstance(m, (ContentLoss, StyleLoss))])
    x = load_image(request["content"], preprocessing(request["model"]))
    result = {}
    for precision, dtype in [("float32", torch.float32), ("bfloat16", torch.bfloat16)]:
        layers = convolutions.to(dtype)
        image = x.to(dtype).requires_grad_(True)

        def work():
            out = layers(image)
            (gradient,) = torch.autograd.grad(out.sum(), image)
            return gradient

        result[precision] = median_ms(work)
    return {"floorMs": result}


def matmul(request):
    n = request.get("matmulSize", 2048)
    result = {}
    for precision, dtype in [("float32", torch.float32), ("bfloat16", torch.bfloat16)]:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        result[precision] = 2 * n ** 3 / (median_ms(lambda: torch.mm(a, b)) / 1000) / 1e9
    return {"gflops": result, "size": n}


def main():
    request = json.load(sys.stdin)
    torch.set_num_threads(request["threads"])
    answer = {"run": run, "floor": floor, "matmul": matmul}[request["mode"]](request)
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
