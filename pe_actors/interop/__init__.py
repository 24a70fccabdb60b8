"""Networks and data to and from the neuromorphic ecosystem: NIR graphs (:mod:`~pe_actors.interop.nir`)."""
