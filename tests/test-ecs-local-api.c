/* test-ecs-local-api.c: ecs-local alone, driven by the real AWS CLI (Debian's awscli) and by
 * signed calls: clusters, task definitions, pagination, errors, SigV4 refusals, ECR tokens and
 * the instance metadata emulation; then every call is checked against botocore's model.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-sigv4.h"
#include "ecsa-test-ecs-local.h"
#include "ecsa-test-utils.h"

#include <string.h>

static EcslTestServer *server;
static char *ecr_password_file;

static char *
write_temp (const char *name, const char *contents)
{
  g_autofree char *path = g_build_filename (server->state_dir, name, NULL);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  return g_strconcat ("file://", path, NULL);
}

static void
assert_cli_error (int status, const char *err, const char *type)
{
  g_assert_cmpint (status, ==, 254);
  g_assert_nonnull (err);
  if (strstr (err, type) == NULL)
    g_error ("expected %s in: %s", type, err);
}

/* ------------------------------------------------------------------------------------------- */

static void
test_clusters (void)
{
  g_autoptr(JsonNode) out = NULL;
  g_autoptr(JsonNode) page = NULL;
  g_autoptr(JsonNode) page2 = NULL;
  g_autoptr(JsonNode) bad = NULL;
  g_autofree char *err = NULL;
  const char *token;
  guint status;
  int rc;

  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "create-cluster", "--cluster-name", "alpha", NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "cluster/clusterArn"), ==,
                   "arn:aws:ecs:us-west-2:123456789012:cluster/alpha");
  g_assert_cmpstr (ecsl_test_get_string (out, "cluster/status"), ==, "ACTIVE");
  g_clear_pointer (&out, json_node_unref);

  /* Creating it again returns the same cluster. */
  json_node_unref (ecsl_test_ecs (server, "CreateCluster", "{\"clusterName\":\"alpha\"}"));
  json_node_unref (ecsl_test_ecs (server, "CreateCluster", "{\"clusterName\":\"beta\"}"));
  json_node_unref (ecsl_test_ecs (server, "CreateCluster", "{\"clusterName\":\"gamma\"}"));

  /* The CLI pages through with --page-size 1 (three requests, nextToken each time). */
  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "list-clusters", "--page-size", "1", NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (ecsl_test_get (out, "clusterArns"))), ==, 3);
  g_clear_pointer (&out, json_node_unref);

  page = ecsl_test_ecs (server, "ListClusters", "{\"maxResults\":2}");
  g_assert_cmpuint (json_array_get_length (json_node_get_array (ecsl_test_get (page, "clusterArns"))), ==, 2);
  token = ecsl_test_get_string (page, "nextToken");
  g_assert_nonnull (token);
  page2 = ecsl_test_ecs (server, "ListClusters", "{\"maxResults\":2,\"nextToken\":\"%s\"}", token);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (ecsl_test_get (page2, "clusterArns"))), ==, 1);
  g_assert_cmpstr (ecsl_test_get_string (page2, "clusterArns/0"), ==,
                   "arn:aws:ecs:us-west-2:123456789012:cluster/gamma");
  g_assert_null (ecsl_test_get (page2, "nextToken"));

  bad = ecsl_test_call (server, NULL, "AmazonEC2ContainerServiceV20141113.ListClusters", "{\"nextToken\":\"zzz\"}",
                        &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (ecsl_test_error_type (bad), ==, "InvalidParameterException");
  g_clear_pointer (&bad, json_node_unref);
  bad = ecsl_test_call (server, NULL, "AmazonEC2ContainerServiceV20141113.ListClusters", "{\"maxResults\":0}", &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (ecsl_test_error_type (bad), ==, "InvalidParameterException");

  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "describe-clusters", "--clusters", "alpha", "nope", NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "clusters/0/clusterName"), ==, "alpha");
  g_assert_cmpstr (ecsl_test_get_string (out, "failures/0/reason"), ==, "MISSING");
  g_assert_cmpstr (ecsl_test_get_string (out, "failures/0/arn"), ==, "arn:aws:ecs:us-west-2:123456789012:cluster/nope");
  g_clear_pointer (&out, json_node_unref);

  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "delete-cluster", "--cluster", "gamma", NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "cluster/status"), ==, "INACTIVE");
  g_clear_pointer (&out, json_node_unref);

  rc = ecsl_test_aws (server, NULL, NULL, &err, "ecs", "list-tasks", "--cluster", "gamma", NULL);
  assert_cli_error (rc, err, "ClusterNotFoundException");
}

static void
test_task_definitions (void)
{
  g_autofree char *web = write_temp ("web.json",
                                     "{\"family\":\"web\",\"containerDefinitions\":[{\"name\":\"httpd\","
                                     "\"image\":\"ecsa-test/busybox:latest\",\"memory\":32,\"essential\":true,"
                                     "\"command\":[\"httpd\",\"-f\",\"-p\",\"80\"],"
                                     "\"portMappings\":[{\"containerPort\":80,\"hostPort\":8080}],"
                                     "\"logConfiguration\":{\"logDriver\":\"json-file\"}}]}");
  g_autofree char *bad_memory = write_temp ("bad1.json",
                                            "{\"family\":\"bad\",\"containerDefinitions\":[{\"name\":\"c\","
                                            "\"image\":\"busybox\"}]}");
  g_autofree char *bad_volume = write_temp ("bad2.json",
                                            "{\"family\":\"bad\",\"containerDefinitions\":[{\"name\":\"c\","
                                            "\"image\":\"busybox\",\"memory\":16,\"mountPoints\":[{\"sourceVolume\":"
                                            "\"nope\",\"containerPath\":\"/x\"}]}]}");
  g_autoptr(JsonNode) out = NULL;
  g_autofree char *err = NULL;
  int rc;

  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "register-task-definition", "--cli-input-json", web, NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "taskDefinition/taskDefinitionArn"), ==,
                   "arn:aws:ecs:us-west-2:123456789012:task-definition/web:1");
  g_assert_cmpint (ecsl_test_get_int (out, "taskDefinition/containerDefinitions/0/cpu"), ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "taskDefinition/containerDefinitions/0/portMappings/0/protocol"), ==,
                   "tcp");
  g_assert_cmpstr (ecsl_test_get_string (out, "taskDefinition/requiresAttributes/0/name"), ==,
                   "com.amazonaws.ecs.capability.logging-driver.json-file");
  g_clear_pointer (&out, json_node_unref);
  json_node_unref (ecsl_test_ecs (server, "RegisterTaskDefinition",
                                  "{\"family\":\"web\",\"containerDefinitions\":[{\"name\":\"httpd\",\"image\":"
                                  "\"ecsa-test/busybox:latest\",\"memoryReservation\":16}]}"));

  /* The family alone is the latest ACTIVE revision. */
  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "describe-task-definition", "--task-definition", "web", NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpint (ecsl_test_get_int (out, "taskDefinition/revision"), ==, 2);
  g_clear_pointer (&out, json_node_unref);

  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "deregister-task-definition", "--task-definition", "web:2",
                      NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "taskDefinition/status"), ==, "INACTIVE");
  g_assert_nonnull (ecsl_test_get (out, "taskDefinition/deregisteredAt"));
  g_clear_pointer (&out, json_node_unref);

  out = ecsl_test_ecs (server, "DescribeTaskDefinition", "{\"taskDefinition\":\"web\"}");
  g_assert_cmpint (ecsl_test_get_int (out, "taskDefinition/revision"), ==, 1);
  g_clear_pointer (&out, json_node_unref);
  out = ecsl_test_ecs (server, "DescribeTaskDefinition",
                       "{\"taskDefinition\":\"arn:aws:ecs:us-west-2:123456789012:task-definition/web:2\"}");
  g_assert_cmpstr (ecsl_test_get_string (out, "taskDefinition/status"), ==, "INACTIVE");
  g_clear_pointer (&out, json_node_unref);

  json_node_unref (ecsl_test_ecs (server, "RegisterTaskDefinition",
                                  "{\"family\":\"web\",\"containerDefinitions\":[{\"name\":\"httpd\",\"image\":"
                                  "\"ecsa-test/busybox:latest\",\"memory\":16}]}"));
  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "list-task-definitions", "--family-prefix", "web", "--sort",
                      "DESC", "--page-size", "1", NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (ecsl_test_get (out, "taskDefinitionArns"))), ==, 2);
  g_assert_cmpstr (ecsl_test_get_string (out, "taskDefinitionArns/0"), ==,
                   "arn:aws:ecs:us-west-2:123456789012:task-definition/web:3");
  g_assert_cmpstr (ecsl_test_get_string (out, "taskDefinitionArns/1"), ==,
                   "arn:aws:ecs:us-west-2:123456789012:task-definition/web:1");
  g_clear_pointer (&out, json_node_unref);
  out = ecsl_test_ecs (server, "ListTaskDefinitions", "{\"status\":\"INACTIVE\"}");
  g_assert_cmpstr (ecsl_test_get_string (out, "taskDefinitionArns/0"), ==,
                   "arn:aws:ecs:us-west-2:123456789012:task-definition/web:2");
  g_clear_pointer (&out, json_node_unref);

  rc = ecsl_test_aws (server, NULL, NULL, &err, "ecs", "register-task-definition", "--cli-input-json", bad_memory,
                      NULL);
  assert_cli_error (rc, err, "ClientException");
  g_assert_nonnull (strstr (err, "At least one of 'memory' or 'memoryReservation' must be specified"));
  g_clear_pointer (&err, g_free);
  rc = ecsl_test_aws (server, NULL, NULL, &err, "ecs", "register-task-definition", "--cli-input-json", bad_volume,
                      NULL);
  assert_cli_error (rc, err, "ClientException");
  g_assert_nonnull (strstr (err, "unknown volume 'nope'"));
  g_clear_pointer (&err, g_free);
  rc = ecsl_test_aws (server, NULL, NULL, &err, "ecs", "deregister-task-definition", "--task-definition", "web",
                      NULL);
  assert_cli_error (rc, err, "ClientException");
}

static void
test_errors (void)
{
  g_autoptr(JsonNode) out = NULL;
  g_autofree char *err = NULL;
  guint status = 0;
  int rc;

  json_node_unref (ecsl_test_ecs (server, "CreateCluster", "{\"clusterName\":\"empty\"}"));
  json_node_unref (ecsl_test_ecs (server, "RegisterTaskDefinition",
                                  "{\"family\":\"lonely\",\"containerDefinitions\":[{\"name\":\"c\",\"image\":"
                                  "\"ecsa-test/busybox:latest\",\"memory\":16}]}"));
  rc = ecsl_test_aws (server, NULL, NULL, &err, "ecs", "run-task", "--cluster", "empty", "--task-definition", "lonely",
                      NULL);
  assert_cli_error (rc, err, "InvalidParameterException");
  g_assert_nonnull (strstr (err, "No Container Instances were found in your cluster."));

  out = ecsl_test_call (server, NULL, "AmazonEC2ContainerServiceV20141113.NoSuchOperation", "{}", &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (ecsl_test_error_type (out), ==, "UnknownOperationException");
  g_clear_pointer (&out, json_node_unref);
  out = ecsl_test_call (server, NULL, "AmazonEC2ContainerServiceV20141113.ListClusters", "{not json", &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (ecsl_test_error_type (out), ==, "SerializationException");
  g_clear_pointer (&out, json_node_unref);
  out = ecsl_test_call (server, NULL, "AmazonEC2ContainerServiceV20141113.ListClusters", "{\"maxResults\":\"ten\"}",
                        &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (ecsl_test_error_type (out), ==, "SerializationException");
  g_assert_nonnull (strstr (ecsl_test_get_string (out, "message"), "maxResults"));
  g_clear_pointer (&out, json_node_unref);
  out = ecsl_test_call (server, NULL, "AmazonEC2ContainerServiceV20141113.DescribeTasks",
                        "{\"cluster\":\"nope\",\"tasks\":[\"x\"]}", &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (ecsl_test_error_type (out), ==, "ClusterNotFoundException");
  g_assert_cmpstr (ecsl_test_get_string (out, "message"), ==, "Cluster not found.");
}

/* ------------------------------------------------------------------------------------------- */

static void
test_signatures (void)
{
  g_autofree char *err = NULL;
  g_autofree char *wrong_secret = g_strdup_printf ("AWS_SECRET_ACCESS_KEY=%sX", server->secret_access_key);
  g_autofree char *right_key = g_strdup_printf ("AWS_ACCESS_KEY_ID=%s", server->access_key_id);
  const char *const bad_secret_env[] = { right_key, wrong_secret, "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", NULL };
  const char *const unknown_env[] = { "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7UNKNOWN", "AWS_SECRET_ACCESS_KEY=abc",
                                      "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", NULL };
  const char *const region_env[] = { "AWS_DEFAULT_REGION=eu-west-1", NULL };
  g_autofree char *url = g_strconcat (server->endpoint, "/", NULL);
  g_autoptr(GError) error = NULL;
  EcsaAwsCredentials creds = { sizeof creds, 0, server->access_key_id, server->secret_access_key, "", 0, "" };
  int rc;

  rc = ecsl_test_aws (server, bad_secret_env, NULL, &err, "ecs", "list-clusters", NULL);
  assert_cli_error (rc, err, "InvalidSignatureException");
  g_assert_nonnull (strstr (err, "The request signature we calculated does not match the signature you provided."));
  g_clear_pointer (&err, g_free);

  rc = ecsl_test_aws (server, unknown_env, NULL, &err, "ecs", "list-clusters", NULL);
  assert_cli_error (rc, err, "UnrecognizedClientException");
  g_assert_nonnull (strstr (err, "The security token included in the request is invalid."));
  g_clear_pointer (&err, g_free);

  rc = ecsl_test_aws (server, NULL, NULL, &err, "--no-sign-request", "ecs", "list-clusters", NULL);
  assert_cli_error (rc, err, "MissingAuthenticationTokenException");
  g_clear_pointer (&err, g_free);

  rc = ecsl_test_aws (server, region_env, NULL, &err, "ecs", "list-clusters", NULL);
  assert_cli_error (rc, err, "InvalidSignatureException");
  g_assert_nonnull (strstr (err, "Credential should be scoped to a valid region, not 'eu-west-1'"));
  g_clear_pointer (&err, g_free);

  /* The HTTP side: a body changed after signing, and a signature from 20 minutes ago. */
  {
    const char *body = "{\"maxResults\":5}";
    g_autoptr(SoupMessage) msg = soup_message_new ("POST", url);
    g_autoptr(GBytes) signed_body = g_bytes_new_static (body, strlen (body));
    g_autoptr(GBytes) sent_body = g_bytes_new_static ("{\"maxResults\":6}", strlen (body));
    g_autoptr(GBytes) resp = NULL;
    soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Amz-Target",
                                  "AmazonEC2ContainerServiceV20141113.ListClusters");
    soup_message_set_request_body_from_bytes (msg, "application/x-amz-json-1.1", sent_body);
    g_assert_true (ecsa_sigv4_sign_message (msg, signed_body, "ecs", server->region, &creds, NULL, &error));
    resp = soup_session_send_and_read (server->session, msg, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (soup_message_get_status (msg), ==, 400);
    g_assert_nonnull (strstr (g_bytes_get_data (resp, NULL), "\"__type\":\"InvalidSignatureException\""));
  }
  {
    const char *body = "{}";
    g_autoptr(SoupMessage) msg = soup_message_new ("POST", url);
    g_autoptr(GBytes) bytes = g_bytes_new_static (body, strlen (body));
    g_autoptr(GBytes) resp = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
    g_autoptr(GDateTime) then = g_date_time_add_minutes (now, -20);
    soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Amz-Target",
                                  "AmazonEC2ContainerServiceV20141113.ListClusters");
    soup_message_set_request_body_from_bytes (msg, "application/x-amz-json-1.1", bytes);
    g_assert_true (ecsa_sigv4_sign_message (msg, bytes, "ecs", server->region, &creds, then, &error));
    resp = soup_session_send_and_read (server->session, msg, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (soup_message_get_status (msg), ==, 400);
    g_assert_nonnull (strstr (g_bytes_get_data (resp, NULL), "Signature expired"));
    g_assert_nonnull (soup_message_headers_get_one (soup_message_get_response_headers (msg), "x-amzn-RequestId"));
  }
  /* No Authorization at all: 403. */
  {
    g_autoptr(SoupMessage) msg = soup_message_new ("POST", url);
    g_autoptr(GBytes) resp = NULL;
    soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Amz-Target",
                                  "AmazonEC2ContainerServiceV20141113.ListClusters");
    soup_message_set_request_body_from_bytes (msg, "application/x-amz-json-1.1", g_bytes_new_static ("{}", 2));
    resp = soup_session_send_and_read (server->session, msg, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (soup_message_get_status (msg), ==, 403);
    g_assert_nonnull (strstr (g_bytes_get_data (resp, NULL), "MissingAuthenticationTokenException"));
  }
  /* A signature scoped to another service. */
  {
    g_autoptr(SoupMessage) msg = soup_message_new ("POST", url);
    g_autoptr(GBytes) bytes = g_bytes_new_static ("{}", 2);
    g_autoptr(GBytes) resp = NULL;
    soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Amz-Target",
                                  "AmazonEC2ContainerServiceV20141113.ListClusters");
    soup_message_set_request_body_from_bytes (msg, "application/x-amz-json-1.1", bytes);
    g_assert_true (ecsa_sigv4_sign_message (msg, bytes, "ecr", server->region, &creds, NULL, &error));
    resp = soup_session_send_and_read (server->session, msg, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (soup_message_get_status (msg), ==, 400);
    g_assert_nonnull (strstr (g_bytes_get_data (resp, NULL), "Credential should be scoped to correct service"));
  }
}

/* ------------------------------------------------------------------------------------------- */

static void
test_ecr (void)
{
  g_autoptr(JsonNode) out = NULL;
  g_autofree char *err = NULL;
  g_autofree guchar *decoded = NULL;
  gsize len = 0;
  int rc;

  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecr", "get-authorization-token", NULL);
  g_assert_cmpint (rc, ==, 0);
  decoded = g_base64_decode (ecsl_test_get_string (out, "authorizationData/0/authorizationToken"), &len);
  g_assert_cmpmem (decoded, len, "AWS:s3cret-registry-pw", strlen ("AWS:s3cret-registry-pw"));
  g_assert_cmpstr (ecsl_test_get_string (out, "authorizationData/0/proxyEndpoint"), ==, "https://127.0.0.1:5000");
  g_assert_nonnull (ecsl_test_get (out, "authorizationData/0/expiresAt"));
  g_clear_pointer (&out, json_node_unref);

  rc = ecsl_test_aws (server, NULL, NULL, &err, "ecr", "get-authorization-token", "--registry-ids", "12345", NULL);
  assert_cli_error (rc, err, "InvalidParameterException");
}

/* ------------------------------------------------------------------------------------------- */

static char *
imds_get (const char *path, const char *token, guint *out_status)
{
  g_autofree char *url = g_strconcat (server->imds_endpoint, path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;

  if (token != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "X-aws-ec2-metadata-token", token);
  body = soup_session_send_and_read (server->session, msg, NULL, &error);
  g_assert_no_error (error);
  *out_status = soup_message_get_status (msg);
  return g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
}

static void
test_imds (void)
{
  g_autofree char *url = g_strconcat (server->imds_endpoint, "/latest/api/token", NULL);
  g_autoptr(SoupMessage) put = soup_message_new ("PUT", url);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) token_bytes = NULL;
  g_autofree char *token = NULL;
  g_autofree char *id = NULL;
  g_autofree char *doc = NULL;
  g_autofree char *sig = NULL;
  g_autofree char *role = NULL;
  g_autofree char *creds_json = NULL;
  g_autofree char *region = NULL;
  g_autofree char *denied = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(JsonNode) out = NULL;
  g_autoptr(JsonNode) reg = NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *body = NULL;
  g_autofree char *tampered = NULL;
  EcsaAwsCredentials creds = { sizeof creds, 0, NULL, NULL, NULL, 0, "" };
  JsonObject *c;
  guint status;

  /* IMDSv2: a token first. */
  soup_message_headers_replace (soup_message_get_request_headers (put), "X-aws-ec2-metadata-token-ttl-seconds", "60");
  token_bytes = soup_session_send_and_read (server->session, put, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (put), ==, 200);
  token = g_strndup (g_bytes_get_data (token_bytes, NULL), g_bytes_get_size (token_bytes));
  g_assert_cmpuint (strlen (token), >=, 40);

  id = imds_get ("/latest/meta-data/instance-id", token, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_true (g_str_has_prefix (id, "i-"));
  region = imds_get ("/latest/meta-data/placement/region", NULL, &status); /* v1 */
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpstr (region, ==, "us-west-2");
  denied = imds_get ("/latest/meta-data/instance-id", "not-a-token", &status);
  g_assert_cmpuint (status, ==, 401);

  role = imds_get ("/latest/meta-data/iam/security-credentials/", token, &status);
  g_assert_cmpstr (role, ==, "ecs-local-instance-role");
  {
    g_autofree char *path = g_strconcat ("/latest/meta-data/iam/security-credentials/", role, NULL);
    creds_json = imds_get (path, token, &status);
  }
  g_assert_cmpuint (status, ==, 200);
  json_parser_load_from_data (parser, creds_json, -1, &error);
  g_assert_no_error (error);
  c = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (c, "Code"), ==, "Success");
  g_assert_true (g_str_has_prefix (json_object_get_string_member (c, "AccessKeyId"), "ASIA"));
  creds.access_key_id = json_object_get_string_member (c, "AccessKeyId");
  creds.secret_access_key = json_object_get_string_member (c, "SecretAccessKey");
  creds.session_token = json_object_get_string_member (c, "Token");
  /* The instance role works against the API, with its session token, and only with it. */
  out = ecsl_test_call (server, &creds, "AmazonEC2ContainerServiceV20141113.ListClusters", "{}", &status);
  g_assert_cmpuint (status, ==, 200);
  g_clear_pointer (&out, json_node_unref);
  creds.session_token = "";
  out = ecsl_test_call (server, &creds, "AmazonEC2ContainerServiceV20141113.ListClusters", "{}", &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (ecsl_test_error_type (out), ==, "UnrecognizedClientException");
  g_clear_pointer (&out, json_node_unref);

  /* The identity document and its signature register an instance; a changed document does not. */
  doc = imds_get ("/latest/dynamic/instance-identity/document", token, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_nonnull (strstr (doc, id));
  sig = imds_get ("/latest/dynamic/instance-identity/signature", token, &status);
  g_assert_cmpuint (status, ==, 200);
  json_node_unref (ecsl_test_ecs (server, "CreateCluster", "{\"clusterName\":\"imds\"}"));
  tampered = g_strdup (doc);
  tampered[strlen (tampered) - 3] = ' ';
  for (int pass = 0; pass < 2; pass++)
    {
      json_builder_reset (b);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "cluster");
      json_builder_add_string_value (b, "imds");
      json_builder_set_member_name (b, "instanceIdentityDocument");
      json_builder_add_string_value (b, pass == 0 ? doc : tampered);
      json_builder_set_member_name (b, "instanceIdentityDocumentSignature");
      json_builder_add_string_value (b, sig);
      json_builder_set_member_name (b, "totalResources");
      json_builder_begin_array (b);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, "CPU");
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, "INTEGER");
      json_builder_set_member_name (b, "integerValue");
      json_builder_add_int_value (b, 2048);
      json_builder_end_object (b);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, "MEMORY");
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, "INTEGER");
      json_builder_set_member_name (b, "integerValue");
      json_builder_add_int_value (b, 1024);
      json_builder_end_object (b);
      json_builder_end_array (b);
      json_builder_end_object (b);
      root = json_builder_get_root (b);
      json_generator_set_root (gen, root);
      g_free (body);
      body = json_generator_to_data (gen, NULL);
      g_clear_pointer (&root, json_node_unref);
      reg = ecsl_test_call (server, NULL, "AmazonEC2ContainerServiceV20141113.RegisterContainerInstance", body, &status);
      if (pass == 0)
        {
          g_assert_cmpuint (status, ==, 200);
          g_assert_cmpstr (ecsl_test_get_string (reg, "containerInstance/ec2InstanceId"), ==, id);
        }
      else
        {
          g_assert_cmpuint (status, ==, 400);
          g_assert_cmpstr (ecsl_test_error_type (reg), ==, "InvalidParameterException");
        }
      g_clear_pointer (&reg, json_node_unref);
    }
}

static void
test_shapes (void)
{
  ecsl_test_check_trace (server);
}

int
main (int argc, char **argv)
{
  g_autofree char *dir = NULL;
  int rc;

  ecsl_test_take_group (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  dir = ecsa_test_mkdtemp ();
  ecr_password_file = g_build_filename (dir, "ecr-password", NULL);
  g_file_set_contents (ecr_password_file, "s3cret-registry-pw\n", -1, NULL);
  {
    g_autofree char *arg = g_strconcat ("--ecr-password-file=", ecr_password_file, NULL);
    const char *const extra[] = { "--ecr-registry=127.0.0.1:5000", arg, NULL };
    server = ecsl_test_server_start (NULL, extra);
  }
  /* Three groups, each a meson test of its own (tests/ecs-local/meson.build). */
  ecsl_test_add ("clusters", "/ecs-local/api/clusters", test_clusters);
  ecsl_test_add ("task-definitions", "/ecs-local/api/task-definitions", test_task_definitions);
  ecsl_test_add ("clusters", "/ecs-local/api/errors", test_errors);
  ecsl_test_add ("signatures", "/ecs-local/api/signatures", test_signatures);
  ecsl_test_add ("signatures", "/ecs-local/api/ecr", test_ecr);
  ecsl_test_add ("clusters", "/ecs-local/api/imds", test_imds);
  ecsl_test_check_groups ();
  /* Last: every call this program made, against botocore's model. */
  g_test_add_func ("/ecs-local/api/shapes", test_shapes);
  rc = g_test_run ();
  ecsl_test_server_stop (server, FALSE);
  ecsa_test_rmdir_recursive (dir);
  g_free (ecr_password_file);
  return rc;
}
