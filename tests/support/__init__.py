"""Test support: real ``docker-registry`` processes, a token issuer, a fault proxy and a layout pusher.

Importable without pytest (benchmarks do ``from tests.support.registry import start_registry`` from the
repo root). Overview:

* :mod:`.registry` — ``start_registry("plain"|"basic"|"token", workdir)`` → :class:`RunningRegistry`
  (``host``, ``url``, ``scheme``, ``ca_file``, ``username``/``password``/``users``, ``issuer``,
  ``token_realm``, ``token_service``, ``log_path``, ``verify()``, ``client()``, ``admin_client()``).
* :mod:`.tokenissuer` — :class:`TokenIssuer` (``requests``, ``expires_in``, ``override()``, ``mint()``).
* :mod:`.layout` — ``push_layout``, ``push_named_fixture``, ``delete_blob``, ``make_tiny_layout``.
* :mod:`.faultproxy` — ``start_fault_proxy(registry, tls=False)`` → :class:`FaultProxy` with rules
  ``corrupt``/``truncate``/``throttle``/``unavailable``/``respond``/``redirect``/``hang``/``unauthorized``.
* :mod:`.pki` — the per-process test CA; :mod:`.httpserve` — the clean-shutdown loopback HTTP server.
"""
