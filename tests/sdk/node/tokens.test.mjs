// A browser's access: a publishable key and a user token from `signUserToken`, as Knock's
// client sends them, reach that user's own record, feed, messages and preferences only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import Knock, { signUserToken } from '@knocklabs/node';
import { SignJWT, importPKCS8 } from 'jose';
import { unique, eventually, all } from './helpers.mjs';

const knock = new Knock();
const publishable = process.env.HERALD_TEST_PUBLISHABLE_KEY;

/** A client acting for the user `token` names, with the publishable key. */
const browser = (token) =>
  new Knock({ apiKey: publishable, defaultHeaders: token ? { 'X-Knock-User-Token': token } : {} });

/** A user with one in-app message, made with the secret key. */
async function userWithMessage(prefix) {
  const id = unique(prefix);
  await knock.workflows.trigger('welcome-now', { recipients: [{ id, name: prefix }] });
  const [message] = await eventually('the welcome', async () => {
    const page = await knock.users.listMessages(id);
    return page.items.length > 0 && page.items;
  });
  return { id, message };
}

test('a user token reaches its own user, feed, messages and preferences', async () => {
  const { id, message } = await userWithMessage('browser');
  const me = browser(await signUserToken(id));
  assert.equal((await me.users.get(id)).id, id);
  await me.users.update(id, { name: 'Renamed in the browser' });
  assert.equal((await knock.users.get(id)).name, 'Renamed in the browser');
  const feed = await all(me.users.feeds.listItems(id, 'in-app'));
  assert.equal(feed.length, 1);
  assert.equal((await me.messages.get(message.id)).id, message.id);
  assert.ok((await me.messages.markAsSeen(message.id)).seen_at);
  const [read] = await me.messages.batch.markAsRead({ message_ids: [message.id] });
  assert.ok(read.read_at);
  await me.users.setPreferences(id, 'default', { channel_types: { email: false } });
  const prefs = await me.users.getPreferences(id, 'default');
  assert.equal(prefs.channel_types.email, false);
});

test('another user, or a route for servers, is forbidden (403)', async () => {
  const { id } = await userWithMessage('owner');
  const other = await userWithMessage('other');
  const me = browser(await signUserToken(id));
  const forbidden = (e) => e instanceof Knock.PermissionDeniedError && e.status === 403;
  await assert.rejects(me.users.get(other.id), forbidden);
  await assert.rejects(me.users.feeds.listItems(other.id, 'in-app'), forbidden);
  await assert.rejects(me.messages.get(other.message.id), forbidden);
  await assert.rejects(me.messages.markAsRead(other.message.id), forbidden);
  await assert.rejects(me.messages.batch.markAsRead({ message_ids: [other.message.id] }), forbidden);
  assert.equal((await knock.messages.get(other.message.id)).read_at, null);
  await assert.rejects(
    me.workflows.trigger('welcome-now', { recipients: [id] }),
    (e) => forbidden(e) && e.error?.code === 'incorrect_token_type',
  );
  await assert.rejects(me.objects.set('projects', unique('p'), { name: 'x' }), forbidden);
});

test('a missing, forged or expired token is refused (401)', async () => {
  const { id } = await userWithMessage('refused');
  const code = (c) => (e) => e instanceof Knock.AuthenticationError && e.status === 401 && e.error?.code === c;
  await assert.rejects(browser(null).users.get(id), code('missing_user_token'));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const forged = await signUserToken(id, { signingKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) });
  await assert.rejects(browser(forged).users.get(id), code('invalid_user_token'));
  const expired = await signUserToken(id, { expiresInSeconds: -120 });
  await assert.rejects(browser(expired).users.get(id), code('invalid_user_token'));
  await assert.rejects(browser('not.a.jwt').users.get(id), code('invalid_user_token'));
  // A token is for the publishable key; the secret key alone keeps full access.
  assert.equal((await knock.users.get(id)).id, id);
});

test('a batch naming another user\'s message changes nothing', async () => {
  const mine = await userWithMessage('mixed');
  const theirs = await userWithMessage('theirs');
  const me = browser(await signUserToken(mine.id));
  await assert.rejects(
    me.messages.batch.markAsRead({ message_ids: [mine.message.id, theirs.message.id] }),
    (e) => e instanceof Knock.PermissionDeniedError,
  );
  assert.equal((await knock.messages.get(mine.message.id)).read_at, null);
  assert.equal((await knock.messages.get(theirs.message.id)).read_at, null);
});

test('explicit grants give only what they list', async () => {
  const { id, message } = await userWithMessage('granted');
  // signUserToken cannot set explicit_grants; jose, which it signs with, can.
  const key = await importPKCS8(process.env.KNOCK_SIGNING_KEY, 'RS256');
  const token = await new SignJWT({
    sub: id,
    explicit_grants: true,
    grants: { [`https://api.knock.app/v1/users/${id}`]: { 'user/feed_read': [], 'user/write': [] } },
  })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(key);
  const me = browser(token);
  const forbidden = (e) => e instanceof Knock.PermissionDeniedError && e.status === 403;
  assert.equal((await all(me.users.feeds.listItems(id, 'in-app'))).length, 1);
  assert.equal((await me.messages.get(message.id)).id, message.id);
  await assert.rejects(me.messages.markAsRead(message.id), forbidden);
  await assert.rejects(me.users.get(id), forbidden);
  await me.users.update(id, { name: 'Allowed' });
  // Inline preferences are a preference write, which the token was not granted.
  await assert.rejects(
    me.users.update(id, { preferences: { default: { channel_types: { email: false } } } }),
    forbidden,
  );
  await assert.rejects(me.users.getPreferences(id, 'default'), forbidden);
});
