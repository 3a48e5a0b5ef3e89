"""The authenticated perfect link over mutual TLS 1.3, and the certificates it loads."""
