#!/usr/bin/python3
"""Tunes a small neural network on the handwritten digits of scikit-learn.

A real training program in the shape AI Platform expects of a trainer
(docs/trainer-contract.md): the package `trainer` with its entry module
`trainer.task`, run as `python3 -m trainer.task`, on a laptop core in
seconds:

- data: sklearn.datasets.load_digits (1797 8x8 images, bundled with
  scikit-learn, no download), split 80/20 into training and validation
  sets with a fixed seed, pixels scaled to [0, 1];
- model: sklearn's MLPClassifier with one hidden layer, trained epoch by
  epoch with partial_fit (adam, minibatches of --batch_size);
- metrics: after every epoch the validation accuracy is reported under the
  tag in CLOUD_ML_HP_METRIC_TAG (default "accuracy") and the training loss
  under "loss", as JSON lines in CLOUD_ML_HP_METRIC_FILE, the format of the
  cloudml-hypertune package (whole file rewritten, last 100 reports kept;
  the writer below needs nothing Debian does not ship).

Hyperparameters (hpt passes --NAME=VALUE, NAME being the parameterName):
  --hidden_units=INT      hidden layer width (default 32)
  --learning_rate=FLOAT   adam's initial learning rate (default 0.001)
  --activation=NAME       relu | tanh | logistic | identity (default relu)
  --epochs=INT            passes over the training set (default 20)
  --batch_size=INT        minibatch size (default 64)
  --alpha=FLOAT           L2 penalty (default 0.0001)
  --seed=INT              weight initialization and shuffling (default 0)
  --job-dir=DIR           when given, a summary.json is written there

It needs numpy and scikit-learn (Debian's python3-sklearn); started by a
python3 without them, it runs itself again under /usr/bin/python3.
"""

import argparse
import collections
import json
import os
import sys
import time
import warnings

DEFAULT_TAG = "accuracy"
KEEP = 100


class MetricWriter:
    """Writes hypertune JSON lines exactly as cloudml-hypertune does."""

    def __init__(self):
        self.path = os.environ.get("CLOUD_ML_HP_METRIC_FILE", "/tmp/hypertune/output.metrics")
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self.trial = str(os.environ.get("CLOUD_ML_TRIAL_ID", 0))
        self.queue = collections.deque(maxlen=KEEP)

    def report(self, tag, value, step):
        self.queue.append({
            "timestamp": time.time(),
            "trial": self.trial,
            tag: str(float(value)),
            "global_step": str(int(step)),
            "checkpoint_path": "",
        })
        with open(self.path, "w") as out:
            for body in self.queue:
                out.write(json.dumps(body, sort_keys=True) + "\n")


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def parse(argv):
    parser = argparse.ArgumentParser(description="MLP on sklearn's digits, tuned by hpt")
    parser.add_argument("--hidden_units", type=positive_int, default=32)
    parser.add_argument("--learning_rate", type=positive_float, default=0.001)
    parser.add_argument("--activation", choices=["relu", "tanh", "logistic", "identity"],
                        default="relu")
    parser.add_argument("--epochs", type=positive_int, default=20)
    parser.add_argument("--batch_size", type=positive_int, default=64)
    parser.add_argument("--alpha", type=float, default=0.0001)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--job-dir", "--job_dir", dest="job_dir", default=None)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # A tuning job may add parameters this program does not know; say so
        # rather than fail the trial.
        print("digits: ignoring unknown arguments: %s" % " ".join(unknown), file=sys.stderr)
    if args.hidden_units > 4096 or args.epochs > 10000:
        parser.error("--hidden_units at most 4096, --epochs at most 10000")
    return args


DEBIAN_PYTHON = "/usr/bin/python3"


def rerun_with_scikit_learn(argv):
    """The agent runs `python3 -m trainer.task` with the first python3 on
    its PATH. When that one lacks scikit-learn (a pyenv or virtualenv
    interpreter), run again under Debian's, which has it (python3-sklearn),
    with the same arguments and environment (PYTHONPATH included)."""
    try:
        import sklearn  # noqa: F401
        return
    except ImportError:
        here = os.path.realpath(sys.executable or "")
        if here == os.path.realpath(DEBIAN_PYTHON) or not os.access(DEBIAN_PYTHON, os.X_OK):
            raise
    spec = globals().get("__spec__")
    target = ["-m", spec.name] if spec and spec.name else [os.path.abspath(__file__)]
    print("digits: no scikit-learn under %s; running under %s" % (here, DEBIAN_PYTHON),
          file=sys.stderr, flush=True)
    os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, *target, *argv])


def main(argv):
    args = parse(argv)
    rerun_with_scikit_learn(argv)
    started = time.time()
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    digits = load_digits()
    x = digits.data / 16.0
    x_train, x_val, y_train, y_val = train_test_split(
        x, digits.target, test_size=0.2, random_state=0, stratify=digits.target)
    classes = np.unique(digits.target)
    model = MLPClassifier(hidden_layer_sizes=(args.hidden_units,), activation=args.activation,
                          solver="adam", learning_rate_init=args.learning_rate,
                          batch_size=min(args.batch_size, len(x_train)), alpha=args.alpha,
                          random_state=args.seed)
    tag = os.environ.get("CLOUD_ML_HP_METRIC_TAG") or DEFAULT_TAG
    writer = MetricWriter()
    print("digits: %d training and %d validation images; hidden_units=%d learning_rate=%g "
          "activation=%s epochs=%d" % (len(x_train), len(x_val), args.hidden_units,
                                       args.learning_rate, args.activation, args.epochs),
          flush=True)
    accuracy = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for epoch in range(1, args.epochs + 1):
            model.partial_fit(x_train, y_train, classes=classes)
            accuracy = float(model.score(x_val, y_val))
            loss = float(model.loss_)
            if not np.isfinite(loss):
                print("digits: training diverged at epoch %d" % epoch, file=sys.stderr)
                return 1
            writer.report(tag, accuracy, epoch)
            writer.report("loss", loss, epoch)
            print("epoch %d loss %.4f %s %.4f" % (epoch, loss, tag, accuracy), flush=True)
    elapsed = time.time() - started
    print("digits: final %s %.4f after %d epochs in %.2fs" % (tag, accuracy, args.epochs, elapsed),
          flush=True)
    if args.job_dir:
        os.makedirs(args.job_dir, exist_ok=True)
        with open(os.path.join(args.job_dir, "summary.json"), "w") as out:
            json.dump({"accuracy": accuracy, "epochs": args.epochs, "seconds": elapsed,
                       "params": vars(args)}, out, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
