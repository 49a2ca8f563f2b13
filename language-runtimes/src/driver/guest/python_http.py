# Network patch for the Python guest (urllib.request / http.client over the host channel).
# Executed inside the guest module `soulbox` after `_frame` is defined. Filled in by the network work of #17.
