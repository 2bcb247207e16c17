#!/usr/bin/python3
# credentials-client.py: fetch task credentials the way an AWS SDK inside a task does, and print the
# result as one JSON object on stdout.
#
#   credentials-client.py sdk
#       botocore's ContainerProvider (Debian's python3-botocore), configured only by the environment:
#       AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (-> http://169.254.170.2<uri>) or
#       AWS_CONTAINER_CREDENTIALS_FULL_URI. Prints {"access_key","secret_key","token","expiry"} or
#       {"error","message"} (exit 2).
#   credentials-client.py http URL
#       one plain GET (urllib); prints {"status","body"}.
#
# Instance metadata (169.254.169.254) is never consulted: only the container provider runs, and
# AWS_EC2_METADATA_DISABLED is set as a second guard.
import json
import os
import sys
import urllib.error
import urllib.request

os.environ['AWS_EC2_METADATA_DISABLED'] = 'true'
for proxy in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
    os.environ.pop(proxy, None)


def sdk():
    from botocore.credentials import ContainerProvider
    from botocore.utils import ContainerMetadataFetcher

    # no sleeping between botocore's retries: the tests want refusals fast
    provider = ContainerProvider(fetcher=ContainerMetadataFetcher(sleep=lambda seconds: None))
    try:
        creds = provider.load()
        if creds is None:
            print(json.dumps({'error': 'NoCredentials', 'message': 'the container provider found no URI'}))
            return 2
        frozen = creds.get_frozen_credentials()
    except Exception as e:  # botocore raises its own exception types; report any of them
        print(json.dumps({'error': type(e).__name__, 'message': str(e)}))
        return 2
    print(json.dumps({'access_key': frozen.access_key, 'secret_key': frozen.secret_key,
                      'token': frozen.token, 'expiry': creds._expiry_time.strftime('%Y-%m-%dT%H:%M:%SZ')}))
    return 0


def http(url):
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=10) as r:
            status, body = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read().decode()
    print(json.dumps({'status': status, 'body': body}))
    return 0


if __name__ == '__main__':
    if len(sys.argv) >= 2 and sys.argv[1] == 'sdk':
        sys.exit(sdk())
    if len(sys.argv) >= 3 and sys.argv[1] == 'http':
        sys.exit(http(sys.argv[2]))
    print(__doc__ or 'usage: credentials-client.py sdk | http URL', file=sys.stderr)
    sys.exit(64)
