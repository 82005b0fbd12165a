"""STDO's pipeline (spatial-temporal data overfitting, methods.md section 5), one resumable stage per module.

A work folder holds everything one video needs, stage by stage (``scripts/stdo_pipeline.py <stage>``)::

    <work>/manifest.json                      frames stage: source, seconds, frame counts, sizes, scales
    <work>/HR/<video>/00000000.png            HR frames (the first N seconds, then the held-out frames)
    <work>/LR_bicubic/X<s>/<video>/...        MATLAB-bicubic LR frames per scale (VSD4KDataset's layout)
    <work>/X<s>/grid.json                     grid stage: patch grid and patch sizes of that scale
    <work>/X<s>/labels.txt, labels.json       labels stage: ``frame row col psnr`` of a general SR model
    <work>/X<s>/k<k>/chunks.txt, chunks.json  chunks stage: ``frame row col chunk``, quantile edges
    <work>/X<s>/k<k>/runs/chunk<j>/           train stage: one vsrkit experiment per chunk (or one routed run)
    <work>/X<s>/k<k>/models/net_g_stdo.pth    the routed index (RoutedVSRModel) + net_g_stdo_net<j>.pth
    <work>/X<s>/k<k>/sr/<video>/*.png, .mp4   infer stage: stitched SR frames and video
    <work>/X<s>/k<k>/eval_<protocol>.md/.json evaluate stage: STDO's or CaFM's protocol

Every stage writes its manifest last (atomically): a stage whose manifest matches its settings is skipped, a
stage interrupted half-way continues where it stopped, and a stage asked to run with other settings than the ones
on disk refuses unless ``--overwrite``.
"""
