"""Batch inference with a pretrained torchvision model in eval mode."""
import torch
import torchvision


def predict(images):
    model = torchvision.models.resnet50(weights="IMAGENET1K_V2")
    model.eval()
    with torch.inference_mode():
        return model(images).softmax(dim=1)
