"""One process of the two-process training tests (tests/network/test_distributed.py), run as a script.

python distributed_worker.py DATA OUT PROCESS_ID NUM_PROCESSES PORT [die|stream]: joins the others (unless
NUM_PROCESSES is 1), fits a tiny SmallCNN on DATA's training films with fit_model, and writes its
weights to OUT/weights-PROCESS_ID.npz; the first process also saves the model folder OUT/model.
"die": process 1 exits right after joining, before training. "stream": a streamed fit (films read batch by
batch from each process's shard, no class balancing: the global batch already holds every film).
"""

import os
import sys

import numpy as np

from skpneumo.datasets import load_split
from skpneumo.network.distributed import is_first_process, join
from skpneumo.workflows import fit_model, save_model

data, out, process_id, num_processes, port = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
if num_processes > 1:
    join(f"127.0.0.1:{port}", num_processes, process_id, timeout=int(os.environ.get("JOIN_TIMEOUT", 60)),
         heartbeat_timeout=5)
if sys.argv[6:] == ["die"] and process_id == 1:
    os._exit(3)
LEARNING_RATE = 1e-3
films = load_split(data, "train")
# No SMOTE, and a global batch holding every film: each step then sees the same films however they are
# shuffled and split between processes, so one process must get the same weights. No augmentation and no
# dropout either: their random draws follow a film's row in the global batch, which differs.
params = dict(weights=None, backbone="smallcnn", size=32, epochs=0, fine_tune_layers="all", fine_tune_epochs=2,
              fine_tune_learning_rate=LEARNING_RATE, batch_size=len(films.paths), augment=False, dropout=0.0,
              smote=None)
if "stream" in sys.argv[6:]:
    params.update(streaming=True, stream_balance=None)
pipe, _ = fit_model(films.paths, films.labels, films.groups, params=params, val_size=0, random_state=0)
np.savez(os.path.join(out, f"weights-{process_id}.npz"), *pipe[-1].model_.get_weights())
if is_first_process():
    save_model(pipe, os.path.join(out, "model"))
