// Objects, subscriptions, tenants, preferences and batch message updates, through the official
// @knocklabs/node client against Herald.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Knock from '@knocklabs/node';
import { unique, eventually, all } from './helpers.mjs';

const knock = new Knock();

test('objects: set merges, get, list pages, delete', async () => {
  const collection = unique('projects');
  const first = await knock.objects.set(collection, 'apollo', { name: 'Apollo', stage: 'beta' });
  assert.equal(first.id, 'apollo');
  assert.equal(first.collection, collection);
  assert.equal(first.properties.name, 'Apollo');
  const merged = await knock.objects.set(collection, 'apollo', { stage: 'ga' });
  assert.deepEqual(merged.properties, { name: 'Apollo', stage: 'ga' });
  for (const id of ['b', 'c', 'd']) await knock.objects.set(collection, id, {});
  const listed = await all(knock.objects.list(collection, { page_size: 2 }));
  assert.deepEqual(listed.map((o) => o.id).sort(), ['apollo', 'b', 'c', 'd']);
  assert.equal((await knock.objects.get(collection, 'apollo')).properties.stage, 'ga');
  assert.equal(await knock.objects.delete(collection, 'b'), null);
  await assert.rejects(knock.objects.get(collection, 'b'), Knock.NotFoundError);
});

test('subscriptions: add with properties, list both ways, trigger fans out, delete', async () => {
  const project = unique('p');
  const [ann, bob, actor] = [unique('ann'), unique('bob'), unique('actor')];
  await knock.objects.set('projects', project, { name: 'Apollo' });
  const added = await knock.objects.addSubscriptions('projects', project, {
    recipients: [{ id: ann, name: 'Ann' }, bob, actor],
    properties: { role: 'watcher' },
  });
  assert.equal(added.length, 3);
  assert.equal(added[0].object.id, project);
  assert.equal(added[0].properties.role, 'watcher');
  const subscribers = await all(knock.objects.listSubscriptions('projects', project, { page_size: 2 }));
  assert.equal(subscribers.length, 3);
  const mine = await all(knock.users.listSubscriptions(ann));
  assert.deepEqual(mine.map((s) => s.object.id), [project]);
  assert.equal(mine[0].recipient.name, 'Ann');

  await knock.users.update(actor, { name: 'Actor' });
  await knock.workflows.trigger('project-update', {
    recipients: [{ id: project, collection: 'projects' }],
    actor,
    data: { change: 'shipped' },
  });
  const [annMessage] = await eventually('the fanned-out message', async () => {
    const m = await all(knock.users.listMessages(ann));
    return m.length > 0 && m;
  });
  const feed = await knock.users.feeds.listItems(ann, 'in-app');
  assert.equal(feed.entries[0].blocks[0].rendered.includes(`${project}: shipped (watcher)`), true);
  assert.equal(annMessage.source.key, 'project-update');
  await eventually('bob too', async () => (await all(knock.users.listMessages(bob))).length === 1);
  assert.equal((await all(knock.users.listMessages(actor))).length, 0, 'the actor is not notified');

  const removed = await knock.objects.deleteSubscriptions('projects', project, { recipients: [bob] });
  assert.equal(removed.length, 1);
  assert.equal((await all(knock.objects.listSubscriptions('projects', project))).length, 2);
});

test('tenants: set, get, list, delete; a trigger with a tenant tags messages and scopes the feed', async () => {
  const tenant = unique('acme');
  const set = await knock.tenants.set(tenant, { name: 'Acme', settings: { branding: { primary_color: '#000' } }, tier: 'gold' });
  assert.equal(set.id, tenant);
  assert.equal(set.name, 'Acme');
  assert.equal(set.tier, 'gold');
  assert.equal((await knock.tenants.get(tenant)).settings.branding.primary_color, '#000');
  const found = await all(knock.tenants.list({ tenant_id: tenant }));
  assert.deepEqual(found.map((t) => t.id), [tenant]);

  const user = unique('user');
  await knock.workflows.trigger('project-update', { recipients: [user], tenant, data: { change: 'a' } });
  await knock.workflows.trigger('project-update', { recipients: [user], data: { change: 'b' } });
  await eventually('both messages', async () => (await all(knock.users.listMessages(user))).length === 2);
  const scoped = await knock.users.feeds.listItems(user, 'in-app', { tenant });
  assert.equal(scoped.entries.length, 1);
  assert.equal(scoped.entries[0].tenant, tenant);

  assert.equal(await knock.tenants.delete(tenant), null);
  await assert.rejects(knock.tenants.get(tenant), Knock.NotFoundError);
});

test('preferences: set replaces, merge merges, opt-out stops messages, objects have sets too', async () => {
  const user = unique('user');
  const replaced = await knock.users.setPreferences(user, 'default', {
    categories: { updates: false },
    channel_types: { email: false },
  });
  assert.equal(replaced.id, 'default');
  assert.equal(replaced.categories.updates, false);
  const merged = await knock.users.setPreferences(user, 'default', {
    __persistence_strategy__: 'merge',
    workflows: { other: true },
  });
  assert.equal(merged.categories.updates, false);
  assert.equal(merged.workflows.other, true);
  const listed = await knock.users.listPreferences(user);
  assert.deepEqual(listed.map((p) => p.id), ['default']);
  assert.equal((await knock.users.getPreferences(user, 'default')).channel_types.email, false);

  const { workflow_run_id } = await knock.workflows.trigger('project-update', { recipients: [user], data: { change: 'x' } });
  const runs = await eventually('the run to finish', async () => {
    const listed = await all(knock.workflowRecipientRuns.list({ workflow_run_id }));
    return listed.length === 1 && listed[0].status === 'completed' && listed;
  });
  const run = await knock.workflowRecipientRuns.get(runs[0].id);
  const skipped = run.events.find((e) => e.event === 'step_skipped');
  assert.ok(skipped, JSON.stringify(run.events));
  assert.equal(skipped.data.reason, 'recipient preferences opt out');
  assert.equal((await all(knock.users.listMessages(user))).length, 0);

  const bad = knock.users.setPreferences(user, 'default', { channel_types: { pigeon: false } });
  await assert.rejects(bad, Knock.UnprocessableEntityError);

  const collection = unique('projects');
  await knock.objects.set(collection, 'o1', {});
  const objectSet = await knock.objects.setPreferences(collection, 'o1', 'default', { workflows: { 'project-update': false } });
  assert.equal(objectSet.workflows['project-update'], false);
  assert.equal((await knock.objects.listPreferences(collection, 'o1')).length, 1);
  assert.equal(await knock.users.unsetPreferences(user, 'default'), null);
  assert.deepEqual(await knock.users.listPreferences(user), []);
});

test('messages.batch marks many messages at once', async () => {
  const user = unique('user');
  await knock.workflows.trigger('project-update', { recipients: [user], data: { change: '1' } });
  await knock.workflows.trigger('project-update', { recipients: [user], data: { change: '2' } });
  const messages = await eventually('two messages', async () => {
    const m = await all(knock.users.listMessages(user));
    return m.length === 2 && m;
  });
  const ids = messages.map((m) => m.id);
  const read = await knock.messages.batch.markAsRead({ message_ids: ids });
  assert.equal(read.length, 2);
  assert.ok(read.every((m) => m.engagement_statuses.includes('read')));
  const archived = await knock.messages.batch.archive({ message_ids: [ids[0]] });
  assert.ok(archived[0].archived_at);
  const feed = await knock.users.feeds.listItems(user, 'in-app');
  assert.equal(feed.entries.length, 1, 'archived items leave the feed');
  const unread = await knock.messages.batch.markAsUnread({ message_ids: ids });
  assert.ok(unread.every((m) => !m.engagement_statuses.includes('read')));
});

test('messages.list filters: message_ids, workflow_categories, inserted_at, tenant presence', async () => {
  const user = unique('user');
  const before = new Date(Date.now() - 1000).toISOString();
  await knock.workflows.trigger('project-update', { recipients: [user], data: { change: '1' } });
  await knock.workflows.trigger('welcome-now', { recipients: [{ id: user, name: 'U' }], tenant: unique('t') });
  const messages = await eventually('two messages', async () => {
    const m = await all(knock.users.listMessages(user));
    return m.length === 2 && m;
  });
  const byId = await all(knock.messages.list({ message_ids: [messages[0].id] }));
  assert.deepEqual(byId.map((m) => m.id), [messages[0].id]);
  const updates = await all(knock.users.listMessages(user, { workflow_categories: ['updates'] }));
  assert.deepEqual(updates.map((m) => m.source.key), ['project-update']);
  const recent = await all(knock.users.listMessages(user, { inserted_at: { gte: before } }));
  assert.equal(recent.length, 2);
  const future = new Date(Date.now() + 60000).toISOString();
  assert.equal((await all(knock.users.listMessages(user, { inserted_at: { gt: future } }))).length, 0);
  const feed = await knock.users.feeds.listItems(user, 'in-app', { has_tenant: true });
  assert.equal(feed.entries.length, 1);
  await assert.rejects(
    knock.users.listMessages(user, { trigger_data: '{"a":1}' }),
    Knock.UnprocessableEntityError,
  );
});
