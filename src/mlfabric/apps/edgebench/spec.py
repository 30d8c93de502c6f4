"""The benchmark's two networks by name, without torch: what the runner needs to check a
request before anything heavy loads."""

from __future__ import annotations

from mlfabric.errors import InvalidInput

INPUT = "images"  # the input tensor of both networks
# name -> (kind, output names, default input side: ImageNet's 224, COCO SSD's 300)
MODELS = {"resnet": ("classification", ("logits",), 224),
          "ssd-mobilenet": ("detection", ("boxes", "scores"), 300)}


def check_model_name(name: str) -> str:
    if name not in MODELS:
        raise InvalidInput(f"unknown model '{name}': expected one of {', '.join(MODELS)}",
                           field="model", value=name)
    return name
