# Run by tests/support/swift_s3_server.cc with Debian's /usr/bin/python3, never by hand:
#
#   swift_s3_server.py SWIFT_CONF rings FOLDER PART_POWER ACCOUNT_PORT CONTAINER_PORT OBJECT_PORT
#       builds account, container and object rings (1 replica, 1 device d1 on 127.0.0.1 each) into
#       FOLDER with Swift's own RingBuilder, the code swift-ring-builder runs (one process instead
#       of nine swift-ring-builder invocations: about 0.5 s each).
#   swift_s3_server.py SWIFT_CONF PROGRAM ARGS...
#       runs one of Debian's Swift programs (/usr/bin/swift-proxy-server, ...) as if started
#       directly.
#
# Either way Swift reads SWIFT_CONF instead of /etc/swift/swift.conf. Swift's path is a module
# constant (swift.common.utils.SWIFT_CONF_FILE) that no option or environment variable changes.
# Importing swift.common.utils reads the hash prefix and suffix from /etc/swift/swift.conf if it
# exists (a missing file is fine); swift.common.utils.set_swift_dir() then points SWIFT_CONF_FILE at
# SWIFT_CONF's folder and reads them again from there. The storage policies and constraints are
# parsed from SWIFT_CONF_FILE when swift.common.storage_policy and swift.common.constraints are
# first imported, which happens after this, so they come from SWIFT_CONF too.
#
# The proxy's `cache` filter is this module's in-process dictionary (tempauth refuses to work
# without a swift.cache; Swift's own memcache filter would need a memcached, and logs an error on
# every request without one).
import json
import runpy
import sys
import time
import types


class _ProcessCache:
    """The calls Swift makes on swift.common.memcached.MemcacheRing, kept in a dict."""

    def __init__(self):
        self._entries = {}

    def _live(self, key):
        entry = self._entries.get(key)
        if entry is not None and entry[1] and entry[1] < time.time():
            del self._entries[key]
            return None
        return entry

    @staticmethod
    def _expiry(ttl):
        if not ttl:
            return 0
        # memcached: up to 30 days a relative time, beyond an absolute one
        return ttl if ttl > 30 * 24 * 3600 else time.time() + ttl

    def get(self, key, raise_on_error=False):
        entry = self._live(key)
        if entry is None:
            return None
        return json.loads(entry[0]) if entry[2] else entry[0]

    def set(self, key, value, serialize=True, time=0, min_compress_len=0,
            raise_on_error=False):
        self._entries[key] = (json.dumps(value) if serialize else value,
                              self._expiry(time), serialize)

    def incr(self, key, delta=1, time=0):
        entry = self._live(key)
        value = max(0, int(entry[0]) + delta) if entry else max(0, delta)
        self._entries[key] = (str(value), entry[1] if entry else self._expiry(time), False)
        return value

    def decr(self, key, delta=1, time=0):
        return self.incr(key, -delta, time)

    def delete(self, key, server_key=None):
        self._entries.pop(key, None)

    def get_multi(self, keys, server_key, raise_on_error=False):
        return [self.get(key) for key in keys]

    def set_multi(self, mapping, server_key, serialize=True, time=0,
                  min_compress_len=0):
        for key, value in mapping.items():
            self.set(key, value, serialize, time)


def _cache_filter_factory(global_conf, **local_conf):
    cache = _ProcessCache()

    def make_filter(app):
        def cached(env, start_response):
            env['swift.cache'] = cache
            return app(env, start_response)
        return cached
    return make_filter


def _build_rings(folder, part_power, ports):
    from swift.common.ring import RingBuilder
    for name, port in zip(('account', 'container', 'object'), ports):
        builder = RingBuilder(part_power, 1, 1)
        builder.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1',
                         'port': port, 'device': 'd1', 'weight': 1, 'meta': ''})
        builder.rebalance()
        builder.save('%s/%s.builder' % (folder, name))
        builder.get_ring().save('%s/%s.ring.gz' % (folder, name))


def main():
    import os
    from swift.common import utils
    if os.path.basename(sys.argv[1]) != 'swift.conf':
        sys.exit('SWIFT_CONF must be named swift.conf: %s' % sys.argv[1])
    utils.set_swift_dir(os.path.dirname(sys.argv[1]))
    assert utils.SWIFT_CONF_FILE == sys.argv[1], utils.SWIFT_CONF_FILE
    assert 'swift.common.storage_policy' not in sys.modules
    module = types.ModuleType('tributary_swift_test_cache')
    module.filter_factory = _cache_filter_factory
    sys.modules[module.__name__] = module
    if sys.argv[2] == 'rings':
        _build_rings(sys.argv[3], int(sys.argv[4]), [int(p) for p in sys.argv[5:8]])
        return
    sys.argv = sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name='__main__')


if __name__ == '__main__':
    main()
