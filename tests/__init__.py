"""The test suite, one folder per area. Every folder is a package, so pytest imports each test
module by its full name (tests.django.test_middleware) and puts only the repository root on
sys.path, never a test folder, where tests/django or tests/celery would hide the real packages."""
