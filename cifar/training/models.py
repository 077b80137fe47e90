"""The two models: the article's CNN exactly (``seed_cnn``) and He et al.'s CIFAR ResNet-20 (``resnet20``).

Both are compiled as in the article: Adam, sparse categorical cross-entropy, accuracy. ``resnet20`` goes
beyond the article: ~10x seed_cnn's compute per image, a model whose thread settings matter more.

>>> from cifar.training.models import build_model
>>> build_model("seed_cnn").count_params()   # doctest: +SKIP
20042
"""

from __future__ import annotations

MODELS = ("seed_cnn", "resnet20")


#: Trainable + non-trainable parameters of each model: a test pins them, and every benchmark records its
#: model's count, so a baseline of a different model is never compared with this one.
PARAMETERS = {"seed_cnn": 20_042, "resnet20": 271_098}


def seed_cnn():
    """The article's model, layer for layer: Conv2D(32, 3) -> MaxPooling2D -> Conv2D(64, 3) ->
    GlobalAveragePooling2D -> Dense(10, softmax) on 32x32x3 inputs (20,042 parameters)."""
    import keras

    return keras.Sequential(
        [
            keras.layers.Input(shape=(32, 32, 3)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="seed_cnn",
    )


def resnet20():
    """ResNet-20 for CIFAR-10 (He et al. 2016, section 4.2): a 3x3 conv, three stages of three basic blocks
    with 16/32/64 filters, global average pooling, a 10-way softmax. Shortcuts that change shape use option
    A of the paper (stride-2 subsampling, zero-padded channels: no parameters), giving ~0.27 M parameters.
    """
    import keras
    from keras import layers, ops

    def conv_bn(x, filters, strides=1, relu=True):
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                          kernel_initializer="he_normal", kernel_regularizer=keras.regularizers.l2(1e-4))(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU()(x) if relu else x

    def shortcut_a(x, filters):
        pad = (filters - x.shape[-1]) // 2
        return layers.Lambda(
            lambda t: ops.pad(t[:, ::2, ::2, :], [[0, 0], [0, 0], [0, 0], [pad, pad]]),
            output_shape=(x.shape[1] // 2, x.shape[2] // 2, filters),
        )(x)

    inputs = keras.Input(shape=(32, 32, 3))
    x = conv_bn(inputs, 16)
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            strides = 2 if stage > 0 and block == 0 else 1
            y = conv_bn(x, filters, strides)
            y = conv_bn(y, filters, relu=False)
            shortcut = shortcut_a(x, filters) if strides == 2 else x
            x = layers.ReLU()(layers.Add()([y, shortcut]))
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="resnet20")


def build_model(name: str, compile: bool = True):
    """Build `name` (one of `MODELS`, or the user's ``pkg.module:function``: `cifar.training.user`) and compile it
    as in the article."""
    from cifar.training.user import is_spec, user_model

    if is_spec(name):
        model = user_model(name)
    elif name not in MODELS:
        raise ValueError(f"model must be one of {MODELS} or pkg.module:function, got {name!r}")
    else:
        model = {"seed_cnn": seed_cnn, "resnet20": resnet20}[name]()
    if compile:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
