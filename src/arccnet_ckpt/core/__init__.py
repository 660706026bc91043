"""The framework-free core: the run's life cycle and the read-side status (``status``), the recorder that writes
every record (``recorder``), and which folder a run writes to (``runfolder``). No torch, no Lightning."""
