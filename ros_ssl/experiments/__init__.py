"""Experiments: orchestration of the core and learning layers into end-to-end runs.

``demo`` (simulate -> label -> train -> evaluate on held-out worlds) and ``study`` (the
label-efficiency study: simulate -> label -> pretrain each SSL method -> fine-tune with a share of
the labels). They only compose; every stage they call is usable alone. Nothing is re-exported here,
so importing one experiment does not pull in the other's stages (the study on a given dataset needs
no simulator).
"""
