"""Links: one interface, several models (fair-loss, stubborn, perfect, authenticated).

``base`` holds the interface the Node sees; ``session`` and ``rtt`` are the sans-IO core of
the perfect link; ``udp``, ``fairloss``, ``stubborn`` and ``perfect`` are the datagram links;
``tls/`` is the authenticated perfect link over mutual TLS.
"""
