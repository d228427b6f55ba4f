"""Image transfer: a volume's data to or from an HTTP(S) URL, in a helper
process (uploadImage/downloadImage)."""
