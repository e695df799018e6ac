package dev.enclave.egress.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The relay's path allowlist as a table: each row is a request target and what the relay does with it. */
class RelayPathPolicyTest {
    private final RelayPathPolicy openai = new RelayPathPolicy(RelayPreset.OPENAI.defaultRoutes());

    @ParameterizedTest(name = "{0} {1} -> {2}")
    @CsvSource(delimiter = '|', textBlock = """
            POST | /v1/chat/completions                      | /v1/chat/completions
            POST | /v1/responses                             | /v1/responses
            GET  | /v1/responses/resp_abc123                 | /v1/responses/resp_abc123
            POST | /v1/completions                           | /v1/completions
            POST | /v1/embeddings                            | /v1/embeddings
            GET  | /v1/models                                | /v1/models
            GET  | /v1/models/ft:gpt-4o:org:name:id          | /v1/models/ft:gpt-4o:org:name:id
            GET  | /v1/models?limit=2                        | /v1/models?limit=2
            GET  | /v1/models?key=sk-attacker                | /v1/models
            GET  | /v1/models?limit=2&key=sk-attacker&x=1    | /v1/models?limit=2&x=1
            GET  | /v1/models?KEY=a&api-key=b&api_key=c&apikey=d&access_token=e&token=f | /v1/models
            GET  | /v1/models?%6Bey=sk-attacker              | /v1/models
            GET  | /v1/models?k%65y=sk-attacker&order=asc    | /v1/models?order=asc
            GET  | /v1/models?key                            | /v1/models
            """)
    void allowedTargetsGoUpstreamWithoutCredentialParameters(String method, String target, String upstream) {
        assertThat(openai.check(method, target)).isInstanceOfSatisfying(RelayPathPolicy.Allowed.class,
                a -> assertThat(a.upstreamTarget()).isEqualTo(upstream));
    }

    @ParameterizedTest(name = "{1} -> {2} {3}")
    @CsvSource(delimiter = '|', textBlock = """
            POST | /v1/files                                     | 403 | path_not_allowed
            POST | /admin                                        | 403 | path_not_allowed
            POST | /v1/chat/completionsX                         | 403 | path_not_allowed
            POST | /v1/chat                                      | 403 | path_not_allowed
            POST | /V1/CHAT/COMPLETIONS                          | 403 | path_not_allowed
            POST | /v1/chat/completions/../../admin              | 403 | path_not_canonical
            POST | /v1/chat/completions/./x                      | 403 | path_not_canonical
            POST | /v1/chat/completions/...                      | 403 | path_not_canonical
            POST | /v1/chat/completions%2F..%2F..%2Fadmin        | 403 | path_not_canonical
            POST | /v1/chat/completions/%2e%2e/%2e%2e/admin      | 403 | path_not_canonical
            POST | /v1/chat/completions/%252e%252e/admin         | 403 | path_not_canonical
            POST | /v1/chat/%63ompletions                        | 403 | path_not_canonical
            POST | /v1/chat/completions\\..\\..\\admin           | 403 | path_not_canonical
            POST | /v1/chat/completions;/../../admin             | 403 | path_not_canonical
            POST | /v1/chat/completions;x=1                      | 403 | path_not_canonical
            POST | /v1//chat/completions                         | 403 | path_not_canonical
            POST | //v1/chat/completions                         | 403 | path_not_canonical
            POST | /v1/chat/completions/                         | 403 | path_not_canonical
            GET  | /v1/models/gpt-4o mini                        | 403 | path_not_canonical
            POST | http://evil.test/v1/chat/completions          | 400 | not_a_path
            POST | api.llm.test:443                              | 400 | not_a_path
            POST | *                                             | 400 | not_a_path
            POST | /v1/chat/completions#frag                     | 400 | fragment
            GET  | /v1/chat/completions                          | 405 | method_not_allowed
            DELETE | /v1/models                                  | 405 | method_not_allowed
            PUT  | /v1/embeddings                                | 405 | method_not_allowed
            GET  | /v1/models?%zzey=1                            | 400 | bad_query
            """)
    void everythingElseIsRefusedWithAReason(String method, String target, int status, String code) {
        assertThat(openai.check(method, target)).isInstanceOfSatisfying(RelayPathPolicy.Refused.class, r -> {
            assertThat(r.status()).isEqualTo(status);
            assertThat(r.code()).isEqualTo(code);
        });
    }

    @Test
    void aRefusalSaysWhatIsAllowed() {
        RelayPathPolicy.Refused notListed = (RelayPathPolicy.Refused) openai.check("POST", "/v1/files");
        assertThat(notListed.text()).contains("/v1/chat/completions", "/v1/models");
        RelayPathPolicy.Refused method = (RelayPathPolicy.Refused) openai.check("DELETE", "/v1/models");
        assertThat(method.allow()).isEqualTo("GET");
        assertThat(method.text()).isEqualTo("DELETE is not allowed on /v1/models (allowed: GET)");
    }

    @Test
    void theAuditPathNeverCarriesTheQuery() {
        RelayPathPolicy.Allowed a = (RelayPathPolicy.Allowed) openai.check("GET", "/v1/models?after=secret");
        assertThat(a.path()).isEqualTo("/v1/models");
        assertThat(a.hadQuery()).isTrue();
    }

    @Test
    void presetsHaveTheirOwnPaths() {
        RelayPathPolicy anthropic = new RelayPathPolicy(RelayPreset.ANTHROPIC.defaultRoutes());
        assertThat(anthropic.check("POST", "/v1/messages")).isInstanceOf(RelayPathPolicy.Allowed.class);
        assertThat(anthropic.check("POST", "/v1/messages/count_tokens")).isInstanceOf(RelayPathPolicy.Allowed.class);
        assertThat(anthropic.check("POST", "/v1/chat/completions")).isInstanceOf(RelayPathPolicy.Refused.class);
        RelayPathPolicy azure = new RelayPathPolicy(RelayPreset.AZURE.defaultRoutes());
        assertThat(azure.check("POST", "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"))
                .isInstanceOfSatisfying(RelayPathPolicy.Allowed.class, a -> assertThat(a.upstreamTarget())
                        .isEqualTo("/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"));
        assertThat(azure.check("POST", "/v1/chat/completions")).isInstanceOf(RelayPathPolicy.Refused.class);
    }

    @Test
    void aConfiguredPrefixMustBeCanonical() {
        assertThatThrownBy(() -> RelayRoute.of("v1/chat", "POST")).hasMessageContaining("must start with /");
        assertThatThrownBy(() -> RelayRoute.of("/", "POST")).hasMessageContaining("empty path segment");
        assertThatThrownBy(() -> RelayRoute.of("/v1/../admin", "POST")).hasMessageContaining("dot-segment");
        assertThatThrownBy(() -> RelayRoute.of("/v1/%2e", "POST")).hasMessageContaining("percent-encoded");
    }

    @Test
    void theUpstreamMustBeAnHttpsNameWithoutAPath() {
        assertThat(RelaySettings.parseUpstream("https://api.openai.com").toString()).isEqualTo("https://api.openai.com");
        assertThatThrownBy(() -> RelaySettings.parseUpstream("http://api.openai.com")).hasMessageContaining("must be https://");
        assertThatThrownBy(() -> RelaySettings.parseUpstream("https://api.openai.com/v1")).hasMessageContaining("without a path");
        assertThatThrownBy(() -> RelaySettings.parseUpstream("https://user@api.openai.com")).hasMessageContaining("without a path, user");
        assertThatThrownBy(() -> RelaySettings.parseUpstream("https://192.0.2.1")).hasMessageContaining("must be a name");
    }
}
