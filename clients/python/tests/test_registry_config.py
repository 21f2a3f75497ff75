"""RegistryConfig: the registry settings the Rust library's RegistryConfig has, as confluent-kafka's
SchemaRegistryClient configuration."""

import pytest

from murron_producer import RegistryConfig


def test_basic_auth_and_a_private_ca_become_confluent_settings():
    conf = RegistryConfig("https://registry:8081", ca_file="/etc/murron/ca.pem", username="orders",
                          password="s3cret").client_config()
    assert conf == {"url": "https://registry:8081", "ssl.ca.location": "/etc/murron/ca.pem",
                    "basic.auth.user.info": "orders:s3cret"}


def test_a_token_is_sent_as_a_static_bearer_token():
    conf = RegistryConfig("https://registry:8081", token="tok").client_config()
    assert conf["bearer.auth.credentials.source"] == "STATIC_TOKEN"
    assert conf["bearer.auth.token"] == "tok"


def test_repr_hides_the_secrets():
    text = repr(RegistryConfig("https://registry:8081", username="orders", password="s3cret"))
    assert "s3cret" not in text and "orders" in text
    assert "tok-secret" not in repr(RegistryConfig("https://registry:8081", token="tok-secret"))


@pytest.mark.parametrize("kwargs, says", [
    ({"url": "registry:8081"}, "not an http"),
    ({"url": "https://u:pw@registry:8081"}, "holds credentials"),
    ({"url": "https://registry", "token": "t", "username": "u", "password": "p"}, "not both"),
    ({"url": "https://registry", "username": "u"}, "go together"),
    ({"url": "http://registry", "ca_file": "/ca.pem"}, "not https"),
])
def test_settings_that_cannot_work_are_refused(kwargs, says):
    with pytest.raises(ValueError, match=says):
        RegistryConfig(**kwargs)
