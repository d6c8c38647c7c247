"""PyTorch copies, written by hand, of the demo's DL4J models as ModelZoo.java builds them.

Shared by both (ModelZoo.features / convBnRelu / conv):
  * every conv is 3x3 (1x1 for a projection shortcut), no bias, ConvolutionMode.Same, then
    BatchNormalization (eps 1e-5, decay 0.9 = PyTorch momentum 0.1), then ReLU;
  * weights He-normal (WeightInit.RELU: std sqrt(2 / fan_in)), dense bias 0.
  * DL4J pads "Same" convolutions with stride 2 asymmetrically (0 top/left, 1 bottom/right); here
    padding=1 gives the same output shapes and the same FLOPs (the values differ at the border, which
    does not matter for speed).

Teacher, ModelZoo.resnet with widths [32, 64, 128], blocks [1, 1, 2], head avg-pool:
  stem conv-BN-ReLU (32); per stage s, per block b: stride 2 where s > 0 and b == 0;
  block = conv-BN-ReLU (stride), conv-BN, + shortcut (1x1 conv stride 2 + BN when stride 2, else
  identity), ReLU; head global average pool, dense 128 -> 10.
Student, ModelZoo.cnn with widths [16, 32, 64], blocks [1, 1, 2], head flatten:
  conv-BN-ReLU 16, maxpool 2x2, conv-BN-ReLU 32, maxpool 2x2, conv-BN-ReLU 64 x 2; head 2x2 max
  pool in Same mode (7x7 -> 4x4: ceil_mode=True), flatten (C, H, W order), dense 1024 -> 10.

DL4J counts a BatchNormalization layer's running mean and variance among its parameters (4 per
channel); PyTorch keeps them as buffers. dl4j_parameter_count() counts them the DL4J way.
"""
import torch
from torch import nn

TEACHER_DL4J_PARAMETERS = 605_354
STUDENT_DL4J_PARAMETERS = 71_002


def conv_bn(cin, cout, kernel, stride):
    return [nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)]


class ResidualBlock(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        self.a = nn.Sequential(*conv_bn(cin, width, 3, stride), nn.ReLU(inplace=True))
        self.b = nn.Sequential(*conv_bn(width, width, 3, 1))
        # Width changes only where a stage starts, always with stride 2: stride alone decides projection.
        self.proj = nn.Sequential(*conv_bn(cin, width, 1, stride)) if stride != 1 else nn.Identity()

    def forward(self, x):
        return torch.relu(self.b(self.a(x)) + self.proj(x))


class ResNet(nn.Module):
    def __init__(self, widths=(32, 64, 128), blocks=(1, 1, 2), channels=1, classes=10):
        super().__init__()
        layers = [*conv_bn(channels, widths[0], 3, 1), nn.ReLU(inplace=True)]
        cin = widths[0]
        for s, (width, n) in enumerate(zip(widths, blocks)):
            for b in range(n):
                layers.append(ResidualBlock(cin, width, 2 if s > 0 and b == 0 else 1))
                cin = width
        self.features = nn.Sequential(*layers)
        self.logits = nn.Linear(cin, classes)
        init(self)

    def forward(self, x):
        return self.logits(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


class Cnn(nn.Module):
    def __init__(self, widths=(16, 32, 64), blocks=(1, 1, 2), channels=1, classes=10, size=28):
        super().__init__()
        layers, cin = [], channels
        for s, (width, n) in enumerate(zip(widths, blocks)):
            for _ in range(n):
                layers += [*conv_bn(cin, width, 3, 1), nn.ReLU(inplace=True)]
                cin = width
            if s < len(widths) - 1:
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
                size = -(-size // 2)
        self.features = nn.Sequential(*layers)
        self.pool = nn.MaxPool2d(2, 2, ceil_mode=True)  # DL4J Same mode: 7x7 -> 4x4
        size = -(-size // 2)
        self.logits = nn.Linear(cin * size * size, classes)
        init(self)

    def forward(self, x):
        return self.logits(torch.flatten(self.pool(self.features(x)), 1))


def init(model):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def teacher():
    return ResNet()


def student():
    return Cnn()


def trainable_parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def dl4j_parameter_count(model):
    """Trainable parameters plus BatchNorm running mean and variance, as DL4J's numParams() counts."""
    buffers = sum(m.running_mean.numel() + m.running_var.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    return trainable_parameter_count(model) + buffers


def decayed_and_not(model):
    """DL4J's l2 applies to weights only (conv and dense), not to biases or batch-norm gamma/beta."""
    decay = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    ids = {id(p) for p in decay}
    return decay, [p for p in model.parameters() if id(p) not in ids]
