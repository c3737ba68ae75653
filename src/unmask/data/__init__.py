"""Records and the files that hold them: the record type, formats in and out, images, crash-safe stores, output checks."""
