"""Local ingest: reading a user's files into drafts, fast.

==================  ==========================================================================
module              what it holds
==================  ==========================================================================
``tree``            scanning a folder (policy for links and special files) and digesting it
                    at once (``scan``, ``digest_tree``, ``digest_files``, ``LocalFile``)
``bulk``            hashing many files (``hash_files``) and snapshotting them into the cache's
                    packs (``snapshot_files``, ``SmallFiles``)
``hashworker``      the helper process that hashes a share of many small files on a 2nd core
``statcache``       the stat cache: an unchanged file is never read twice
==================  ==========================================================================

The digest vocabulary these speak is :mod:`satchel.hashing`.
"""
