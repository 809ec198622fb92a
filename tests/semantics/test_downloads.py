"""Weights loaded from files the file downloads (``semantics/downloads.py``): the file's
models are pinned by published checkpoints, so ``publishes_weights`` holds."""

from __future__ import annotations

import pytest

from tests.semantics.helpers import semantics

UVA = '''
import os
import urllib.request

import pytorch_lightning as pl

CHECKPOINT_PATH = os.environ.get("PATH_CHECKPOINT", "saved_models/ConvNets")
base_url = "https://raw.githubusercontent.com/phlippe/saved_models/main/tutorial5/"
pretrained_files = ["GoogleNet.ckpt", "ResNet.ckpt"]
os.makedirs(CHECKPOINT_PATH, exist_ok=True)
for file_name in pretrained_files:
    file_path = os.path.join(CHECKPOINT_PATH, file_name)
    if not os.path.isfile(file_path):
        file_url = base_url + file_name
        urllib.request.urlretrieve(file_url, file_path)


def train_model(model_name, save_name=None):
    if save_name is None:
        save_name = model_name
    pretrained_filename = os.path.join(CHECKPOINT_PATH, save_name + ".ckpt")
    if os.path.isfile(pretrained_filename):
        model = CIFARModule.load_from_checkpoint(pretrained_filename)
    return model
'''


def test_the_uva_tutorial_loads_the_checkpoints_it_downloads():
    assert semantics(UVA).publishes_weights


PUBLISHING = {
    "same variable, torch.load into load_state_dict": '''
        import torch
        from torch.hub import download_url_to_file
        WEIGHTS = "weights/net.pth"
        download_url_to_file("https://example.org/net.pth", WEIGHTS)
        net.load_state_dict(torch.load(WEIGHTS, map_location="cpu"))
    ''',
    "same constant, a state dict through a name": '''
        import torch, wget
        wget.download("https://example.org/net.pth", "weights/net.pth")
        checkpoint = torch.load("weights/./net.pth")
        net.load_state_dict(checkpoint["model"])
    ''',
    "a pathlib directory": '''
        from pathlib import Path
        import gdown, torch
        CKPT_DIR = Path("pretrained")
        gdown.download(url, str(CKPT_DIR / "g.pt"), quiet=False)
        generator.load_state_dict(torch.load(CKPT_DIR / "g.pt"))
    ''',
    "an f-string and + from the same directory": '''
        import urllib.request
        ckpt_dir = "checkpoints/"
        urllib.request.urlretrieve(url, f"{ckpt_dir}model.ckpt")
        model = LitModel.load_from_checkpoint(checkpoint_path=ckpt_dir + "model.ckpt")
    ''',
    "a constant directory in an f-string, resumed by the trainer": '''
        from urllib.request import urlretrieve
        urlretrieve(url, filename=f"pretrained/{name}.ckpt")
        trainer.fit(model, ckpt_path="pretrained/" + name + ".ckpt")
    ''',
    "requests, its content written to the file": '''
        import os, requests, torch
        MODEL_DIR = "models"
        response = requests.get(url)
        with open(os.path.join(MODEL_DIR, "net.pt"), "wb") as handle:
            handle.write(response.content)
        net.load_state_dict(torch.load(os.path.join(MODEL_DIR, "net.pt")))
    ''',
    "requests, streamed in chunks": '''
        import requests, torch
        path = "models/net.pt"
        r = requests.get(url, stream=True)
        with open(path, "wb") as f:
            for chunk in r.iter_content(chunk_size=8192):
                f.write(chunk)
        net.load_state_dict(torch.load(path))
    ''',
}


@pytest.mark.parametrize("source", PUBLISHING.values(), ids=list(PUBLISHING))
def test_a_checkpoint_loaded_from_where_the_file_downloads_is_published(source):
    assert semantics(source).publishes_weights


NOT_PUBLISHING = {
    "downloads data, loads its own checkpoint from another directory": '''
        import os, urllib.request, torch
        DATA_DIR = "data"
        CHECKPOINT_DIR = "checkpoints"
        urllib.request.urlretrieve(url, os.path.join(DATA_DIR, "cifar.tar.gz"))
        net.load_state_dict(torch.load(os.path.join(CHECKPOINT_DIR, "net.pt")))
    ''',
    "two directories under one root": '''
        import os, urllib.request
        ROOT = os.environ.get("ROOT", ".")
        DATA_DIR = os.path.join(ROOT, "data")
        CKPT_DIR = os.path.join(ROOT, "ckpt")
        urllib.request.urlretrieve(url, os.path.join(DATA_DIR, "train.zip"))
        model = Model.load_from_checkpoint(os.path.join(CKPT_DIR, "best.ckpt"))
    ''',
    "one variable re-bound from data to checkpoint": '''
        import os, urllib.request, torch
        path = os.path.join("data", "train.zip")
        urllib.request.urlretrieve(url, path)
        path = os.path.join("checkpoints", "net.pt")
        net.load_state_dict(torch.load(path))
    ''',
    "downloads checkpoints but never loads them": '''
        import os, urllib.request
        CHECKPOINT_PATH = "saved_models"
        for name in ["a.ckpt", "b.ckpt"]:
            urllib.request.urlretrieve(base_url + name, os.path.join(CHECKPOINT_PATH, name))
    ''',
    "loads a checkpoint it never downloads": '''
        import os, torch
        CHECKPOINT_PATH = "saved_models"
        net.load_state_dict(torch.load(os.path.join(CHECKPOINT_PATH, "net.pt")))
    ''',
    "torch.load of a downloaded data file, not a state dict": '''
        import urllib.request, torch
        urllib.request.urlretrieve(url, "data/mnist.pt")
        images, labels = torch.load("data/mnist.pt")
    ''',
    "a loop variable is not a place": '''
        import urllib.request, torch
        for path in downloads:
            urllib.request.urlretrieve(url, path)
        for path in checkpoints:
            net.load_state_dict(torch.load(path))
    ''',
    "the current directory is not a shared place": '''
        import os, urllib.request
        urllib.request.urlretrieve(url, os.path.join(".", "data.zip"))
        model = Model.load_from_checkpoint(os.path.join(".", "best.ckpt"))
    ''',
    "requests, written as text that is not the response": '''
        import requests, torch
        path = "models/net.pt"
        r = requests.get(url)
        with open(path, "w") as f:
            f.write("downloaded")
        net.load_state_dict(torch.load(path))
    ''',
    "a file read, not written": '''
        import requests, torch
        path = "models/net.pt"
        r = requests.get(url)
        with open(path) as f:
            f.read()
        net.load_state_dict(torch.load(path))
    ''',
}


@pytest.mark.parametrize("source", NOT_PUBLISHING.values(), ids=list(NOT_PUBLISHING))
def test_look_alikes_do_not_publish_weights(source):
    assert not semantics(source).publishes_weights
