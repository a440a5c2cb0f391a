"""The real-imagery fire / smoke detector: sources, preparation, ImageNet backbone, training, export, evaluation."""
