"""Bridges to other continual-learning libraries. Importing this package imports none of them.

`AVALANCHE_STRATEGIES` names the Avalanche strategies that run as cmtbench strategies
(`--strategy avalanche:EWC`, benchmark/interop/avalanche.py), each with a one-line description,
declared here so that `list` shows them without importing Avalanche or torch.
"""

AVALANCHE_STRATEGIES = {
    "Naive": "Avalanche's Naive: fine-tuning on each experience in turn (lower bound).",
    "EWC": "Avalanche's EWC: a penalty weighted by each finished experience's importances.",
    "SI": "Avalanche's Synaptic Intelligence: importances from the path integral of the loss.",
    "MAS": "Avalanche's Memory Aware Synapses: importances from the output's sensitivity.",
    "LwF": "Avalanche's Learning without Forgetting: distil the previous model on new inputs.",
    "GEM": "Avalanche's GEM: project gradients so no memory experience's loss increases (QP).",
    "AGEM": "Avalanche's A-GEM: project the gradient against one memory batch's gradient.",
    "Replay": "Avalanche's Replay: a class-balanced buffer replayed beside each batch.",
    "GDumb": "Avalanche's GDumb: retrain from the initial model on a class-balanced buffer.",
    "Cumulative": "Avalanche's Cumulative: train on every experience so far (upper bound).",
}
