"""PatchGAN discriminator with spectral normalisation (PEN-Net section 3.3)."""
from __future__ import annotations

import torch.nn as nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """Four 5x5 convs (64, 128, 256, 512 channels; strides 2, 2, 2, 1), spectral norm and
    LeakyReLU 0.2, then a 5x5 classifier: one logit per patch (hinge loss, no sigmoid)."""

    def __init__(self, in_channels: int = 3, cnum: int = 64):
        super().__init__()
        layers, cin = [], in_channels
        for cout, stride in ((cnum, 2), (cnum * 2, 2), (cnum * 4, 2), (cnum * 8, 1)):
            layers += [spectral_norm(nn.Conv2d(cin, cout, 5, stride, 2, bias=False)),
                       nn.LeakyReLU(0.2, inplace=True)]
            cin = cout
        self.encoder = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(cin, 1, 5, 1, 2)
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m is not self.classifier:
                nn.init.normal_(m.parametrizations.weight.original, 0.0, 0.02)
        nn.init.normal_(self.classifier.weight, 0.0, 0.02)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x):
        return self.classifier(self.encoder(x))
