"""Batch inference with a pretrained torchvision model, never switched to eval mode (DL502)."""
import torch
import torchvision


def predict(images):
    model = torchvision.models.resnet50(weights="IMAGENET1K_V2")
    with torch.inference_mode():
        return model(images).softmax(dim=1)
