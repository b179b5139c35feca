// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/web_client_test.ts.
/**
 * The signed-in page as the modules that work on it see it (actions.js, pushes.js, render.js):
 * its state and the calls they make. chat.js's ChatPage is the one implementation; declaring the
 * shape here keeps those modules from importing chat.js back (no import cycle).
 */

/** @typedef {import("./client.js").ImClient} ImClient */
/** @typedef {import("./conversation.js").Line} Line */
/** @typedef {import("./conversation.js").Conversation} Conversation */

/** What can be re-rendered: the list (and title), the open conversation's head, messages, typing line, members. @typedef {"list" | "head" | "messages" | "typing" | "members"} Part */

/**
 * The message menu and member list, as rendering drives them (actions.js).
 * @typedef {object} PageActions
 * @property {string | null} menuKey the message whose actions are open
 * @property {() => void} closeMembers
 * @property {(line: Line | null) => void} menu
 * @property {(action: "edit" | "recall" | "delete", line: Line) => void} run
 */

/**
 * @typedef {object} Page
 * @property {ImClient | null} im the session, null when signed out
 * @property {import("./model.js").ChatModel} model
 * @property {string} active the open conversation's id, "" for none
 * @property {import("./rooms.js").Rooms} rooms
 * @property {import("./outbox.js").Outbox} outbox
 * @property {import("./composer.js").Composer} composer
 * @property {import("./notices.js").Notice} notice
 * @property {PageActions} actions
 * @property {string} membersRoom the room whose member list is open, "" for none
 * @property {{count: number, key: string | null} | null} unreadMark where the "new messages" separator goes
 * @property {number} newBelow new messages below the visible part of the open conversation
 * @property {boolean} scrollOnOpen the next render of the messages scrolls as for a conversation just opened
 * @property {boolean} scrollEnd the next render scrolls to the newest (an own send)
 * @property {boolean} keepTop the next render keeps the visible messages in place (older ones were added above)
 * @property {boolean} firstLogin no login of this session completed yet
 * @property {boolean} everOnline the session was online once (later drops are reconnects)
 * @property {boolean} resetSeen the server's inbox epoch changed in the login under way
 * @property {boolean} countsLoaded `conversations` answered (or is not supported)
 * @property {Map<string, number>} readSent the newest seq `read` was sent for, per conversation
 * @property {{editMs: number, recallMs: number}} windows how long own messages may be edited / recalled
 * @property {any} typingTimer when the next typing signal expires
 * @property {(id: string) => Promise<void>} open
 * @property {() => void} close
 * @property {(c: Conversation, older?: boolean) => Promise<void>} loadHistory
 * @property {() => void} markRead
 * @property {(id?: string) => void} changed
 * @property {(...parts: Part[]) => void} invalidate
 * @property {(text: string) => void} error
 */

export {};
