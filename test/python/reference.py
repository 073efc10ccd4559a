"""A plain PyTorch implementation of the objective, for checking the addon against.

Reads a JSON request on stdin and writes a JSON answer on stdout. Images travel as files of
raw bytes: float32 planar 0..1 RGB ("evaluate"), or uint8 interleaved RGB ("lbfgs").

  evaluate: losses at `image` and the gradient of the total with respect to it (written to
            request["gradient_path"] as float32), each layer's part L1-normalised when
            request["normalizeGradients"] is set
  lbfgs:    the loss and its TV term after each of `iterations` evaluations of L-BFGS, and
            the time from loading the model to the end; started from the content, or with
            request["init"] "random" from noise drawn with request["seed"] as the addon draws it
  adam:     the same with Adam at request["learningRate"]
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CAFFE_MEAN_BGR = [103.939, 116.779, 123.68]


class Network:
    """The TorchScript model's own layers, named the VGG way, with pooling chosen."""

    def __init__(self, path, pooling, preprocess):
        extra = {"neural_style/preprocess": ""}
        module = torch.jit.load(path, _extra_files=extra)
        self.preprocess_kind = extra["neural_style/preprocess"].decode() or preprocess or "torchvision"
        children = dict(module.named_children())
        if "features" in children:
            module = children["features"]
        self.layers = []
        block, index = 1, 0
        for _, child in module.named_children():
            kind = child.original_name
            if kind == "Conv2d":
                index += 1
                name = f"conv{block}_{index}"
            elif kind == "ReLU":
                name = f"relu{block}_{index}"
            else:
                name = f"pool{block}"
                block, index = block + 1, 0
                child = (lambda x: F.max_pool2d(x, 2, 2)) if pooling == "max" else (lambda x: F.avg_pool2d(x, 2, 2))
            self.layers.append((name, child))
        for parameter in module.parameters():
            parameter.requires_grad_(False)

    def preprocess(self, rgb):
        if self.preprocess_kind == "caffe":
            return rgb[:, [2, 1, 0]] * 255 - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
        return (rgb - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def activations(self, x, wanted):
        found = {}
        for name, layer in self.layers:
            x = layer(x.clone())
            if name in wanted:
                found[name] = x
            if len(found) == len(wanted):
                break
        return found


def gram(features):
    _, channels, height, width = features.shape
    flat = features.reshape(channels, height * width)
    return flat @ flat.t() / (channels * height * width)


class Objective:
    def __init__(self, net, request, content, styles):
        self.net, self.request = net, request
        blend = request["styleBlendWeights"] or [1.0] * len(styles)
        blend = [weight / sum(blend) for weight in blend]
        with torch.no_grad():
            found = net.activations(content, set(request["contentLayers"]))
            self.content_targets = [found[layer] for layer in request["contentLayers"]]
            self.style_targets = [0] * len(request["styleLayers"])
            for weight, style in zip(blend, styles):
                found = net.activations(style, set(request["styleLayers"]))
                for i, layer in enumerate(request["styleLayers"]):
                    self.style_targets[i] = self.style_targets[i] + weight * gram(found[layer])

    def layer_losses(self, x):
        """(activation, weight, loss) for each content and style layer."""
        r = self.request
        found = self.net.activations(x, set(r["contentLayers"]) | set(r["styleLayers"]))
        content = [(found[layer], r["contentWeight"], F.mse_loss(found[layer], target))
                   for layer, target in zip(r["contentLayers"], self.content_targets)]
        layer_weights = r.get("styleLayerWeights") or [1.0] * len(r["styleLayers"])
        style = [(found[layer], r["styleWeight"] * layer_weight, style_loss(found[layer], target, r))
                 for layer, target, layer_weight in zip(r["styleLayers"], self.style_targets, layer_weights)]
        return content, style

    def __call__(self, x):
        r = self.request
        content, style = self.layer_losses(x)
        terms = {
            "content": r["contentWeight"] * sum(loss for _, _, loss in content),
            "style": sum(weight * loss for _, weight, loss in style),
            "tv": r["tvWeight"] * total_variation(x),
        }
        return terms["content"] + terms["style"] + terms["tv"], terms

    def normalized_gradient(self, image):
        """The gradient with jcjohnson/neural-style's -normalize_gradients, written out: each
        layer's loss sends back weight * g / (|g|_1 + 1e-8), g being the loss's own gradient at
        that layer; the TV term's gradient is left as it is."""
        x = self.net.preprocess(image)
        content, style = self.layer_losses(x)
        outputs, directions = [self.request["tvWeight"] * total_variation(x)], [torch.ones(())]
        for activation, weight, loss in content + style:
            (g,) = torch.autograd.grad(loss, activation, retain_graph=True)
            outputs.append(activation)
            directions.append(weight * g / (g.abs().sum() + 1e-8))
        (gradient,) = torch.autograd.grad(outputs, image, directions)
        return gradient


def style_loss(features, target, request):
    """jcjohnson's mean squared difference of C*H*W-normalised Gram matrices, or Gatys et al.'s
    E = sum((G - A)^2) / (4 N^2 M^2) of unnormalised ones (N channels, M positions)."""
    if request.get("styleNormalization", "chw") == "chw":
        return F.mse_loss(gram(features), target)
    _, n, h, w = features.shape
    m = h * w
    unnormalised, target_unnormalised = gram(features) * n * m, target * n * m
    return (unnormalised - target_unnormalised).pow(2).sum() / (4 * n * n * m * m)


def total_variation(x):
    dx = x[:, :, :-1, :-1] - x[:, :, :-1, 1:]
    dy = x[:, :, :-1, :-1] - x[:, :, 1:, :-1]
    return 0.5 * (dx.pow(2).sum() + dy.pow(2).sum())


def read_planar(image):
    values = np.fromfile(image["path"], dtype=np.float32)
    return torch.from_numpy(values).view(1, 3, image["height"], image["width"])


def read_rgb(image):
    values = np.fromfile(image["path"], dtype=np.uint8).astype(np.float32) / 255
    return torch.from_numpy(values).view(image["height"], image["width"], 3).permute(2, 0, 1).unsqueeze(0).contiguous()


def main():
    request = json.load(sys.stdin)
    torch.set_num_threads(request.get("threads") or torch.get_num_threads())
    start = time.perf_counter()
    net = Network(request["modelPath"], request["pooling"], request.get("preprocess"))
    read = read_planar if request["mode"] == "evaluate" else read_rgb
    content = net.preprocess(read(request["content"]))
    styles = [net.preprocess(read(style)) for style in request["styles"]]
    objective = Objective(net, request, content, styles)

    if request["mode"] == "evaluate":
        image = read_planar(request["image"]).requires_grad_(True)
        total, terms = objective(net.preprocess(image))
        if request.get("normalizeGradients"):
            gradient = objective.normalized_gradient(image)
        else:
            (gradient,) = torch.autograd.grad(total, image)
        gradient.numpy().astype(np.float32).tofile(request["gradient_path"])
        answer = {"loss": total.item(), **{name: value.item() for name, value in terms.items()}}
    else:
        if request.get("init") == "random":
            # jcjohnson/neural-style's start: small noise around the mean pixel.
            generator = torch.Generator().manual_seed(request["seed"])
            image = (torch.randn(content.shape, generator=generator) * 0.001).requires_grad_(True)
        else:
            image = content.clone().requires_grad_(True)
        losses, tvs = [], []

        def closure():
            optimizer.zero_grad()
            total, terms = objective(image)
            total.backward()
            losses.append(total.item())
            tvs.append(terms["tv"].item())
            return total

        if request["mode"] == "lbfgs":
            optimizer = torch.optim.LBFGS([image], lr=1, max_iter=request["iterations"], max_eval=2 * request["iterations"],
                                          tolerance_grad=-1, tolerance_change=-1, history_size=request["lbfgsHistory"])
            optimizer.step(closure)
        else:
            optimizer = torch.optim.Adam([image], lr=request["learningRate"])
            for _ in range(request["iterations"]):
                optimizer.step(closure)
        answer = {"losses": losses, "tv": tvs, "elapsedMs": (time.perf_counter() - start) * 1000}
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
