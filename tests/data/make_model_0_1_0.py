"""Write tests/data/model-0.1.0.joblib with skpneumo 0.1.0, for tests/workflows/test_persistence.py.

Run from a checkout of 0.1.0 (commit fe49e2d)::

    PYTHONPATH=/path/to/checkout python tests/data/make_model_0_1_0.py DATA_DIR OUT.joblib PROBA.npy
"""
import sys
import joblib
import keras
import numpy as np
import skpneumo
from skpneumo import make_pipeline, model as old_model
from skpneumo.datasets import make_synthetic_xrays

assert skpneumo.__version__ == "0.1.0" and "/tmp/old" in skpneumo.__file__, skpneumo.__file__


def Tiny(include_top=False, weights=None, input_shape=None, name="tiny"):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(4, 3, strides=4, use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    return keras.Model(inputs, keras.layers.ReLU()(x), name=name)


# A backbone small enough for a test fixture (the saved network is the file's bulk).
old_model.BACKBONES["smallcnn"] = old_model.Backbone(Tiny, "tf")
data = make_synthetic_xrays(sys.argv[1], n_per_class=6, size=40, random_state=0)
pipe = make_pipeline(weights=None, backbone="smallcnn", size=32, dense_units=(4,), epochs=1,
                     fine_tune_epochs=0, batch_size=4, random_state=0, smote__k_neighbors=2)
pipe.fit(data.paths, data.labels)
pipe.named_steps["clf"].set_params(threshold=0.4)
joblib.dump(pipe, sys.argv[2])
probe = sorted(data.paths)[:4]
np.save(sys.argv[3], pipe.predict_proba(probe))
print([str(p).rsplit("/", 1)[-1] for p in probe])
