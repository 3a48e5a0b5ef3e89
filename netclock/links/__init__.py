"""Links: one interface, several models (fair-loss, stubborn, perfect, authenticated).

``base`` holds what every link offers the Node and the events it reports; ``options`` one
typed options class per link kind and ``make_link``; ``session`` and ``rtt`` are the sans-IO
core of the perfect link and ``pump`` the asyncio pump both reliable links drive it with;
``udp``, ``fairloss``, ``stubborn`` and ``perfect`` are the datagram links; ``tls/`` is the
authenticated perfect link over mutual TLS.
"""
